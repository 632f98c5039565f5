"""Alembic migrations, applied by `syston migrate` (and by `syston dev` at start)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from syston.core.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def run_migrations(settings: Settings) -> None:
    """Upgrade the configured database to the newest schema (safe to run repeatedly)."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        db_path = url.split(":///", 1)[1]
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


async def migrate_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade through an existing async engine (tests, from inside an event loop)."""

    def _upgrade(connection: object) -> None:
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def run_migrations_in_thread(settings: Settings) -> None:
    """`run_migrations` for callers already inside an event loop (env.py uses asyncio.run)."""
    errors: list[BaseException] = []

    def _target() -> None:
        try:
            run_migrations(settings)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=_target, name="migrations")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
