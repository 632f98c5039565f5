"""DATABASE_URL on PostgreSQL, for the blocking engine beside the async one.

The async engine is asyncpg's (`postgresql+asyncpg://…`, the URL the service is configured
with); the hot paths' transactions run on a blocking engine of psycopg 3 (libpq) on a few
threads (syston/core/engine.py). The two drivers name their connection parameters differently
(asyncpg's `ssl=require` is libpq's `sslmode=require`), and a parameter dropped on the way would
be dropped silently (an unencrypted connection where `ssl=require` was asked), so every query
parameter is translated, dropped because it only tunes asyncpg's own client, or passed on and
checked against libpq's list of connection options: an unknown one is refused at startup,
naming it.
"""

from __future__ import annotations

import math
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL, make_url

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

# asyncpg's and SQLAlchemy's asyncpg-dialect options that tune the client alone (its statement
# caches, its per-call timeout, set by the engine itself anyway): nothing to carry over.
ASYNCPG_CLIENT_ONLY = frozenset(
    {
        "statement_cache_size",
        "max_cached_statement_lifetime",
        "max_cacheable_statement_size",
        "prepared_statement_cache_size",
        "prepared_statement_name_func",
        "command_timeout",
    }
)
# Turning these caches off is what a transaction-pooling PgBouncer needs: the blocking engine
# then prepares nothing on the server either.
NO_PREPARED_STATEMENTS = ("statement_cache_size", "prepared_statement_cache_size")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class DatabaseUrlError(ValueError):
    """DATABASE_URL asks for something the service cannot honour on both drivers (the message
    names the parameter, never the URL: it may hold a password)."""


def blocking_engine_args(url: URL | str) -> tuple[URL, dict[str, Any]]:
    """The `postgresql+psycopg` URL and the extra psycopg connect arguments that reach the same
    database, as the same user, with the same TLS and timeouts, as the async `url` does.

    `url` is asyncpg's (its parameters are translated) or psycopg's (taken as it is)."""
    url = make_url(url)
    driver = url.get_driver_name()
    if driver == "psycopg":
        query = dict(url.query)
        connect_args: dict[str, Any] = {}
    elif driver == "asyncpg":
        query, connect_args = _from_asyncpg(dict(url.query))
    else:
        raise DatabaseUrlError(
            f"PostgreSQL driver {driver!r} is not supported: "
            "use postgresql+asyncpg://user:password@host:5432/database"
        )
    _check_libpq_options(query)
    return url.set(drivername="postgresql+psycopg", query=query), connect_args


def _from_asyncpg(query: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    libpq: dict[str, Any] = {}
    connect_args: dict[str, Any] = {}
    for name, value in query.items():
        if name in ASYNCPG_CLIENT_ONLY:
            if name in NO_PREPARED_STATEMENTS and _single(name, value) == "0":
                connect_args["prepare_threshold"] = None
        elif name == "ssl":
            libpq["sslmode"] = _ssl_mode(_single(name, value))
        elif name == "timeout":
            libpq["connect_timeout"] = _seconds(_single(name, value))
        elif name == "direct_tls":
            if _flag(name, _single(name, value)):
                libpq["sslnegotiation"] = "direct"
        else:
            libpq[name] = value  # the same name in libpq, or refused by the check below
    return libpq, connect_args


def _single(name: str, value: Any) -> str:
    if isinstance(value, tuple):
        raise DatabaseUrlError(f"{name}= is given more than once")
    return str(value)


def _ssl_mode(value: str) -> str:
    mode = value.strip().lower().replace("_", "-")
    if mode not in SSL_MODES:
        raise DatabaseUrlError(f"ssl={value} is not an SSL mode (one of {', '.join(SSL_MODES)})")
    return mode


def _seconds(value: str) -> str:
    try:
        seconds = float(value)
    except ValueError:
        raise DatabaseUrlError(f"timeout={value} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise DatabaseUrlError(f"timeout={value} must be a positive number of seconds")
    return str(math.ceil(seconds))  # libpq takes whole seconds


def _flag(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise DatabaseUrlError(f"{name}={value} is neither true nor false")


def _check_libpq_options(query: dict[str, Any]) -> None:
    for name, value in query.items():
        if name in ("host", "port"):
            continue  # several hosts: SQLAlchemy's PostgreSQL dialects read them from the query
        try:
            make_conninfo("", **{name: value if isinstance(value, str) else ",".join(value)})
        except psycopg.ProgrammingError:
            raise DatabaseUrlError(
                f"parameter {name!r} is not a PostgreSQL connection option (libpq's, or one of "
                "asyncpg's it translates: ssl, timeout, direct_tls)"
            ) from None
