"""run_transaction: the hot paths' transactions, on SQLite's blocking twin and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from syston.core import engine as engine_module
from syston.core.engine import ReadConnection, create_engine, run_transaction, sessionmaker
from tests.support.database import postgres_database

_marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async def made(url: str) -> AsyncEngine:
        made = create_engine(url)
        async with made.begin() as conn:
            await conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
            await conn.execute(text("INSERT INTO counter VALUES (1, 0)"))
        return made

    if request.param == "sqlite":
        made_engine = await made(f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}")
        yield made_engine
        await made_engine.dispose()
        return
    async with postgres_database() as url:
        made_engine = await made(url)
        yield made_engine
        await made_engine.dispose()


def _count_on(db: Connection) -> int:
    return int(db.execute(text("SELECT n FROM counter")).scalar_one())


def _create_counter(db: Connection) -> None:
    db.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
    db.execute(text("INSERT INTO counter VALUES (1, 0)"))


def _bump(db: Connection, by: int) -> int:
    return int(
        db.execute(text("UPDATE counter SET n = n + :by RETURNING n"), {"by": by}).scalar_one()
    )


def _bump_then_fail(db: Connection) -> None:
    _bump(db, 100)
    raise RuntimeError("after the write")


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT n FROM counter"))).scalar_one())


async def test_commits_what_returns_and_rolls_back_what_raises(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    assert await run_transaction(sessions, _bump, 1) == 1
    assert await run_transaction(sessions, _bump, by=2) == 3
    with pytest.raises(RuntimeError, match="after the write"):
        await run_transaction(sessions, _bump_then_fail)
    # the async engine (another pool, on SQLite another driver) sees the same committed state
    assert await _count(engine) == 3


async def test_the_callers_context_goes_along(engine: AsyncEngine) -> None:
    """The request id and the trace span of the caller are seen by the transaction's code."""
    sessions = sessionmaker(engine)
    _marker.set("request-42")
    assert await run_transaction(sessions, lambda _db: _marker.get()) == "request-42"


async def test_sqlite_runs_each_transaction_in_one_hop_to_its_own_threads(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'threads.db'}")
    sessions = sessionmaker(engine)
    try:

        def where(db: Connection) -> tuple[str, str]:
            driver = db.engine.dialect.driver
            return threading.current_thread().name, driver

        name, driver = await run_transaction(sessions, where)
        assert name.startswith("sqlite") and driver == "pysqlite"
        assert name != threading.current_thread().name
    finally:
        await engine.dispose()


async def test_a_disposed_sqlite_engine_works_again(tmp_path: Path) -> None:
    """dispose() ends the twin's threads and connections with the engine's own, and, like the
    engine's pool, they come back on the next use (tests and reloads dispose and go on)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'again.db'}")
    sessions = sessionmaker(engine)
    try:
        await run_transaction(sessions, lambda db: db.execute(text("CREATE TABLE t (n INT)")))
        before = {t.name for t in threading.enumerate() if t.name.startswith("sqlite")}
        assert before
        await engine.dispose()
        left = {t.name for t in threading.enumerate() if t.name.startswith("sqlite")}
        assert not left & before
        await run_transaction(sessions, lambda db: db.execute(text("INSERT INTO t VALUES (1)")))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_an_engine_made_elsewhere_runs_on_its_own_connection(tmp_path: Path) -> None:
    """An engine not made by create_engine (no twin) still runs the same functions."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}")
    sessions = sessionmaker(engine)
    try:
        await run_transaction(sessions, lambda db: db.execute(text("CREATE TABLE t (n INT)")))
        name = await run_transaction(sessions, lambda _db: threading.current_thread().name)
        assert name == threading.current_thread().name
    finally:
        await engine.dispose()


async def test_concurrent_transactions_lose_no_update(engine: AsyncEngine) -> None:
    """Fifty read-modify-write transactions at once, more than the twin has threads."""
    sessions = sessionmaker(engine)
    results = await asyncio.gather(*(run_transaction(sessions, _bump, 1) for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    assert await _count(engine) == 50


async def test_a_read_connection_sees_what_commits_and_gives_everything_back(
    engine: AsyncEngine,
) -> None:
    """The API's access check and its route read through one ReadConnection."""
    pool = engine.sync_engine.pool
    unread = ReadConnection(engine)
    await unread.close()  # a request refused before reading took nothing

    reads = ReadConnection(engine)
    try:
        assert await reads.run(_count_on) == 0
        await run_transaction(sessionmaker(engine), _bump, 5)
        assert await reads.run(_count_on) == 5
    finally:
        await reads.close()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_many_requests_reading_at_once_never_wait_on_each_other(engine: AsyncEngine) -> None:
    """Sixty requests in flight, each reading twice with a wait between (its access check,
    then its route), far more than there are connections: none holds one while it waits, so
    all finish (with a connection held between the reads, the threads would wait for
    connections held by requests waiting for a thread, until the pool's 30 s timeout)."""
    sessions = sessionmaker(engine)
    await run_transaction(sessions, _bump, 1)

    async def request() -> tuple[int, int]:
        reads = ReadConnection(engine)
        try:
            first = await reads.run(_count_on)
            await asyncio.sleep(0.01)
            return first, await reads.run(_count_on)
        finally:
            await reads.close()

    answers = await asyncio.wait_for(asyncio.gather(*(request() for _ in range(60))), 20)
    assert set(answers) == {(1, 1)}


async def test_a_read_whose_caller_hung_up_finishes_on_its_own_connection(
    tmp_path: Path,
) -> None:
    """SQLite: a request cancelled mid-read (the client went away) closes its read connection
    while the read may still be running on a thread: the read keeps its connection until it
    ends, and the next read works. (On PostgreSQL the read runs on the event loop, and
    SQLAlchemy's asyncio layer handles the cancellation.)"""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hang-up.db'}")
    await run_transaction(sessionmaker(engine), _create_counter)
    reads = ReadConnection(engine)
    started, release, ended = threading.Event(), threading.Event(), threading.Event()
    outcome: list[object] = []

    def slow_read(db: Connection) -> int:
        started.set()
        release.wait(10)
        try:
            value = int(db.execute(text("SELECT n FROM counter")).scalar_one())
            outcome.append(value)
            return value
        except Exception as exc:
            outcome.append(exc)
            raise
        finally:
            ended.set()

    read = asyncio.create_task(reads.run(slow_read))
    await asyncio.to_thread(started.wait, 10)
    read.cancel()
    closing = asyncio.create_task(reads.close())
    for _ in range(5):
        await asyncio.sleep(0)
    release.set()
    await closing
    with pytest.raises(asyncio.CancelledError):
        await read
    await asyncio.to_thread(ended.wait, 10)
    try:
        assert outcome == [0]
        assert await ReadConnection(engine).run(_count_on) == 0
    finally:
        await engine.dispose()


# -- PostgreSQL: pinged only after idling ---------------------------------------------------


@pytest.fixture
async def pg_engine() -> AsyncIterator[AsyncEngine]:
    async with postgres_database() as url:
        made = create_engine(url, pool_size=1)
        yield made
        await made.dispose()


def _backend_pid(db: Connection) -> int:
    return int(db.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _count_pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_conn: object) -> bool:
        pings.append(dbapi_conn)
        return ping(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


async def test_a_connection_in_use_a_moment_ago_is_not_pinged(
    pg_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _count_pings(pg_engine, monkeypatch)
    sessions = sessionmaker(pg_engine)
    first = await run_transaction(sessions, _backend_pid)
    for _ in range(5):
        assert await run_transaction(sessions, _backend_pid) == first  # the same connection
    assert pings == []  # pool_pre_ping would have pinged at each of the five checkouts


async def test_an_idle_connection_the_server_closed_is_replaced_before_use(
    pg_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_BEFORE_PING_SECONDS", 0.0)
    pings = _count_pings(pg_engine, monkeypatch)
    sessions = sessionmaker(pg_engine)
    dead = await run_transaction(sessions, _backend_pid)
    # an idle timeout in a proxy, or a restart: the pooled connection is gone, nobody noticed
    admin = create_async_engine(pg_engine.url, poolclass=NullPool)
    async with admin.begin() as other:
        await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dead})
    await admin.dispose()
    assert await run_transaction(sessions, _count_after_create) == 0
    assert pings and await run_transaction(sessions, _backend_pid) != dead


def _count_after_create(db: Connection) -> int:
    _create_counter(db)
    return _count_on(db)
