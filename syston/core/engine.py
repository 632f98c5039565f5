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


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """One engine per process. SQLite gets WAL, a busy timeout and foreign keys, and a blocking
    twin on the standard library's driver for `run_transaction` (see there).

    `create_async_engine` is looked up on its module at each call, so that tracing (which
    wraps it there when OTEL_* turns it on) sees every engine.
    """
    create_async_engine = sqlalchemy_asyncio.create_async_engine
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        _attach_blocking_twin(engine)
        return engine
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=5,
        connect_args={"timeout": 5, "command_timeout": 10},
    )
    _ping_after_idle(engine)
    return engine


IDLE_BEFORE_PING_SECONDS = 10.0
"""A pooled connection unused for longer is pinged before it is handed out."""


def _ping_after_idle(engine: AsyncEngine) -> None:
    """The pool's pre-ping, only for connections that sat idle.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: on asyncpg that is `BEGIN`, a query
    and `ROLLBACK`, three round trips before every transaction, and about half of what the
    server did per tenant (bench/README.md). A connection that was in use a moment ago is
    alive; one that sat idle may have been closed by a restart or a proxy's idle timeout, and is
    pinged (and replaced, by the pool, if the ping fails). A connection that dies between two
    uses fails the statement that meets it; SQLAlchemy then invalidates the whole pool, so that
    is one failure per process, answered 503 by the API and retried by Temporal in a worker.
    """

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
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

# SQLite threads: writers queue on the database's lock anyway, so a few are enough; the twin's
# pool holds one connection for each.
SQLITE_THREADS = 4


class _BlockingTwin:
    """A blocking engine on the same SQLite file, and the threads that run its transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._threads: ThreadPoolExecutor | None = None

    @property
    def threads(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(SQLITE_THREADS, thread_name_prefix="sqlite")
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


def _attach_blocking_twin(engine: AsyncEngine) -> None:
    url = engine.url.set(drivername="sqlite+pysqlite")
    # looked up at each call, like create_async_engine above (tracing wraps it there)
    blocking = sqlalchemy.create_engine(
        url, connect_args={"timeout": 30}, pool_size=SQLITE_THREADS, max_overflow=0
    )
    event.listen(blocking, "connect", _sqlite_pragmas)
    twin = _BlockingTwin(blocking)
    _twins[engine.sync_engine] = twin
    # AsyncEngine.dispose() disposes its sync engine: the twin goes with it.
    event.listen(engine.sync_engine, "engine_disposed", twin.dispose)


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
    which are a few prebuilt statements each. On SQLite the whole transaction runs on one of a
    few threads with the standard library's driver: aiosqlite hops to its thread and back
    for every call (cursor, execute, fetch, close, commit), about 1.2 ms of CPU for a
    transaction of three statements against 0.3 ms in one hop (bench/README.md). On
    PostgreSQL it runs on the async engine's connection (asyncpg), without a thread. Either
    way no ORM session: its bookkeeping cost more than a statement.
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

    On PostgreSQL the request keeps one async connection for all its reads. On SQLite each read
    takes a twin connection on its thread and gives it back there: a request holds no
    connection while it waits on anything else, so however many requests are in flight, the
    twin's threads never wait for a connection held by a request that waits for a thread."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._twin = _twins.get(engine.sync_engine)
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
