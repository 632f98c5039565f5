"""DATABASE_URL on PostgreSQL, carried over to the blocking engine (psycopg 3) beside the async
one (asyncpg): nothing dropped silently, nothing unknown let through."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from syston.core.postgresql_url import DatabaseUrlError, blocking_engine_args

BASE = "postgresql+asyncpg://app:p%40ss%2Fword@db.internal:6432/syston"


def _args(query: str) -> tuple[dict[str, object], dict[str, object]]:
    url, connect_args = blocking_engine_args(f"{BASE}?{query}" if query else BASE)
    assert url.drivername == "postgresql+psycopg"
    return dict(url.query), connect_args


def test_the_same_server_database_and_user_with_the_password_intact() -> None:
    url, connect_args = blocking_engine_args(BASE)
    original = make_url(BASE)
    assert (url.host, url.port, url.database, url.username, url.password) == (
        "db.internal",
        6432,
        "syston",
        "app",
        "p@ss/word",
    )
    assert url.password == original.password
    assert dict(url.query) == {} and connect_args == {}


@pytest.mark.parametrize(
    ("ssl", "sslmode"),
    [
        ("disable", "disable"),
        ("allow", "allow"),
        ("prefer", "prefer"),
        ("require", "require"),
        ("verify-ca", "verify-ca"),
        ("verify_ca", "verify-ca"),
        ("verify-full", "verify-full"),
        ("verify_full", "verify-full"),
    ],
)
def test_asyncpgs_ssl_is_libpqs_sslmode(ssl: str, sslmode: str) -> None:
    assert _args(f"ssl={ssl}") == ({"sslmode": sslmode}, {})


@pytest.mark.parametrize("ssl", ["true", "yes", "requre"])
def test_an_ssl_that_is_not_a_mode_is_refused(ssl: str) -> None:
    with pytest.raises(DatabaseUrlError, match="is not an SSL mode"):
        _args(f"ssl={ssl}")


def test_the_connect_timeout_is_carried_over_in_whole_seconds() -> None:
    assert _args("timeout=2.5") == ({"connect_timeout": "3"}, {})
    for bad in ("soon", "0", "-1", "nan"):
        with pytest.raises(DatabaseUrlError, match="timeout"):
            _args(f"timeout={bad}")


def test_direct_tls_is_direct_ssl_negotiation() -> None:
    assert _args("direct_tls=true&ssl=require") == (
        {"sslnegotiation": "direct", "sslmode": "require"},
        {},
    )
    assert _args("direct_tls=false") == ({}, {})
    with pytest.raises(DatabaseUrlError, match="neither true nor false"):
        _args("direct_tls=maybe")


def test_options_libpq_shares_with_asyncpg_pass_as_they_are() -> None:
    query = "target_session_attrs=read-write&krbsrvname=postgres&passfile=/run/pgpass"
    assert _args(query) == (
        {
            "target_session_attrs": "read-write",
            "krbsrvname": "postgres",
            "passfile": "/run/pgpass",
        },
        {},
    )


def test_asyncpgs_own_client_options_are_dropped() -> None:
    query = "command_timeout=30&statement_cache_size=50&max_cached_statement_lifetime=0"
    assert _args(query) == ({}, {})


@pytest.mark.parametrize("name", ["prepared_statement_cache_size", "statement_cache_size"])
def test_no_statement_cache_means_no_prepared_statements_on_the_blocking_engine(
    name: str,
) -> None:
    """What a transaction-pooling PgBouncer needs of asyncpg, it needs of psycopg too."""
    assert _args(f"{name}=0") == ({}, {"prepare_threshold": None})
    assert _args(f"{name}=100") == ({}, {})


@pytest.mark.parametrize(
    "query", ["sslmod=require", "server_settings=x", "ssl=require&ssl=disable"]
)
def test_anything_else_is_refused_naming_it(query: str) -> None:
    with pytest.raises(DatabaseUrlError) as refused:
        _args(query)
    name = query.split("=")[0]
    assert name in str(refused.value)
    assert "p@ss" not in str(refused.value) and "ss%2F" not in str(refused.value)


def test_several_hosts_pass_to_the_dialect() -> None:
    url, _ = blocking_engine_args("postgresql+asyncpg://app:pw@/syston?host=db1:5432&host=db2:5432")
    assert url.query["host"] == ("db1:5432", "db2:5432")


def test_a_psycopg_url_is_taken_as_it_is_and_checked() -> None:
    url, connect_args = blocking_engine_args(
        "postgresql+psycopg://app:pw@db/syston?sslmode=verify-full&application_name=syston"
    )
    assert dict(url.query) == {"sslmode": "verify-full", "application_name": "syston"}
    assert connect_args == {}
    with pytest.raises(DatabaseUrlError, match="'ssl'"):
        blocking_engine_args("postgresql+psycopg://app:pw@db/syston?ssl=require")


def test_another_driver_is_refused() -> None:
    with pytest.raises(DatabaseUrlError, match="psycopg2"):
        blocking_engine_args("postgresql+psycopg2://app:pw@db/syston")
