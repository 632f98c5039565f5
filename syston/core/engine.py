"""The engine, its sessions and the transactions of the hot paths.

One engine per process (`create_engine`); the ORM's sessions for the paths that are not hot;
`run_transaction` for those that are (the ledger of every step, the signup's insert, the outbox).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from syston.core.postgresql_url import blocking_engine_args


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """One engine per process, and beside it a blocking twin for `run_transaction` and
    `ReadConnection` (see there): on SQLite the standard library's driver on the same file
    (both with WAL, a busy timeout and foreign keys), on PostgreSQL psycopg 3 on the same
    database (DATABASE_URL translated by syston/core/postgresql_url.py).

    The engine factories are looked up on their modules at each call, so that tracing (which
    wraps them there when OTEL_* turns it on) sees every engine.
    """
    create_async_engine = sqlalchemy_asyncio.create_async_engine
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        _attach_sqlite_twin(engine)
        return engine
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=5,
        connect_args={
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "command_timeout": STATEMENT_TIMEOUT_SECONDS,
        },
    )
    _ping_after_idle(engine.sync_engine)
    _attach_postgresql_twin(engine)
    return engine


CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_SECONDS = 10


IDLE_BEFORE_PING_SECONDS = 10.0
"""A pooled connection unused for longer is pinged before it is handed out."""


def _ping_after_idle(engine: Engine) -> None:
    """The pool's pre-ping, only for connections that sat idle.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: on asyncpg that is `BEGIN`, a query
    and `ROLLBACK`, three round trips before every transaction, and about half of what the
    server did per tenant (bench/README.md). A connection that was in use a moment ago is
    alive; one that sat idle may have been closed by a restart or a proxy's idle timeout, and is
    pinged (and replaced, by the pool, if the ping fails). A connection that dies between two
    uses fails the statement that meets it; SQLAlchemy then invalidates the whole pool, so that
    is one failure per process, answered 503 by the API and retried by Temporal in a worker.
    """

    @event.listens_for(engine.pool, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _handed_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < IDLE_BEFORE_PING_SECONDS:
            return  # new (just connected) or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise sqlalchemy.exc.DisconnectionError(f"idle connection is gone: {exc}") from exc


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


# -- transactions on the hot paths -----------------------------------------------------------

P = ParamSpec("P")
T = TypeVar("T")

# The twin's threads, and its pool's connections (one for each). On SQLite writers queue on
# the database's lock anyway; on PostgreSQL a transaction holds its thread for a few round
# trips of well under a millisecond each. More threads than this only contend for the GIL
# (bench/README.md).
SQLITE_THREADS = 4
POSTGRESQL_THREADS = 4


class _BlockingTwin:
    """A blocking engine on the same database, and the threads that run its transactions (as
    many as its pool holds connections). `serves_reads`: ReadConnection uses it too."""

    def __init__(self, engine: Engine, threads: int, name: str, *, serves_reads: bool) -> None:
        self.engine = engine
        self.serves_reads = serves_reads
        self._size = threads
        self._name = name
        self._threads: ThreadPoolExecutor | None = None

    @property
    def threads(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self._size, thread_name_prefix=self._name)
        return self._threads

    async def submit(
        self, how: Callable[[Callable[[Connection], T]], T], work: Callable[[Connection], T]
    ) -> T:
        """`how(work)` on one of the threads, with the caller's context (its request id and
        trace span). Connections are taken and given back on the thread, never held between
        two hops, so the threads (at most as many as the pool's connections) never wait on
        each other."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(self.threads, context.run, how, work)

    def transaction(self, work: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            return work(conn)

    def read(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return work(conn)

    def dispose(self, *_: Any) -> None:
        """With its async engine's: connections closed, threads ended (both come back on
        the next use, as the engine's own pool does)."""
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=True)
        self.engine.dispose()


_twins: weakref.WeakKeyDictionary[Engine, _BlockingTwin] = weakref.WeakKeyDictionary()


def _attach(engine: AsyncEngine, twin: _BlockingTwin) -> None:
    _twins[engine.sync_engine] = twin
    # AsyncEngine.dispose() disposes its sync engine: the twin goes with it.
    event.listen(engine.sync_engine, "engine_disposed", twin.dispose)


def _attach_sqlite_twin(engine: AsyncEngine) -> None:
    url = engine.url.set(drivername="sqlite+pysqlite")
    # looked up at each call, like create_async_engine above (tracing wraps it there)
    blocking = sqlalchemy.create_engine(
        url, connect_args={"timeout": 30}, pool_size=SQLITE_THREADS, max_overflow=0
    )
    event.listen(blocking, "connect", _sqlite_pragmas)
    _attach(engine, _BlockingTwin(blocking, SQLITE_THREADS, "sqlite", serves_reads=True))


def _attach_postgresql_twin(engine: AsyncEngine) -> None:
    """psycopg 3 on as many threads as it has connections, for transactions only: a request's
    reads stay on one asyncpg connection (ReadConnection). Its connections get the async
    engine's timeouts: libpq's `connect_timeout`, and asyncpg's per-statement
    `command_timeout` as the session's `statement_timeout` (set once per connection)."""
    url, connect_args = blocking_engine_args(engine.url)
    connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS  # over the URL's, as asyncpg's
    blocking = sqlalchemy.create_engine(
        url,
        connect_args=connect_args,
        pool_size=POSTGRESQL_THREADS,
        max_overflow=0,
        pool_timeout=5,
    )
    event.listen(blocking, "connect", _statement_timeout)
    _ping_after_idle(blocking)
    _attach(engine, _BlockingTwin(blocking, POSTGRESQL_THREADS, "postgresql", serves_reads=False))


def _statement_timeout(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute(f"SET statement_timeout = {int(STATEMENT_TIMEOUT_SECONDS * 1000)}")
    dbapi_conn.commit()


async def run_transaction(
    sessions: async_sessionmaker[Any],
    work: Callable[Concatenate[Connection, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run `work(conn, *args, **kwargs)`, plain blocking SQLAlchemy Core on a `Connection`, as
    one transaction (committed when it returns, rolled back when it raises).

    This is for the hot paths (the ledger of every step, the signup's insert, the outbox),
    which are a few prebuilt statements each. The whole transaction runs on one of a few
    threads of the engine's blocking twin: one hop there and back, where an async driver
    costs an event-loop round trip for every call. On SQLite that is the standard library's
    driver (aiosqlite hops to its thread and back for every call: cursor, execute, fetch,
    close, commit, about 1.2 ms of CPU for a transaction of three statements against 0.3 ms in
    one hop); on PostgreSQL psycopg 3 (asyncpg through SQLAlchemy's greenlet bridge costs about
    1 ms per transaction, bench/README.md). No ORM session either: its bookkeeping cost more
    than a statement. An engine made elsewhere (no twin) runs it on its own connection.
    """
    engine: AsyncEngine = sessions.kw["bind"]

    def call(conn: Connection) -> T:
        return work(conn, *args, **kwargs)

    twin = _twins.get(engine.sync_engine)
    if twin is not None:
        return await twin.submit(twin.transaction, call)
    async with engine.begin() as conn:
        return await conn.run_sync(call)


class ReadConnection:
    """The connection of a unit of work's reads (an HTTP request's: its access check and its
    route), taken on first use, so that work refused before reaching the database never takes
    one. `run(work, …)` runs `work(conn, …)` like run_transaction does.

    On SQLite each read takes a twin connection on a twin thread and gives it back there: a
    request holds no connection while it waits on anything else, so however many requests are
    in flight, the twin's threads never wait for a connection held by a request that waits for
    a thread. On PostgreSQL the request keeps one async connection for all its reads: two
    reads on one asyncpg connection cost half of two checkouts on the twin, each with its own
    `BEGIN` and `ROLLBACK` and a thread hop (bench/README.md)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        twin = _twins.get(engine.sync_engine)
        self._twin = twin if twin is not None and twin.serves_reads else None
        self._async: AsyncConnection | None = None

    async def run(
        self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        def call(conn: Connection) -> T:
            return work(conn, *args, **kwargs)

        if self._twin is not None:
            return await self._twin.submit(self._twin.read, call)
        if self._async is None:
            self._async = await self._engine.connect()
        return await self._async.run_sync(call)

    async def close(self) -> None:
        """Give the connection back (a rollback of nothing written: it does not wait)."""
        if self._async is not None:
            await self._async.close()
            self._async = None
