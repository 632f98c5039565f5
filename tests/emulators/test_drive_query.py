"""The Drive `q` parser on its own."""

from __future__ import annotations

import pytest

from emulators.drive_query import QueryError, compile_query
from emulators.state import SPREADSHEET_MIME, DriveFile


def sheet(name: str, tenant: str | None = None, trashed: bool = False) -> DriveFile:
    return DriveFile(
        id=name,
        name=name,
        mime_type=SPREADSHEET_MIME,
        app_properties={"tenantId": tenant} if tenant else {},
        trashed=trashed,
    )


FILES = [sheet("O'Brien FC (t1)", "t1"), sheet("Beta (t2)"), sheet("Gone (t3)", "t3", True)]


def matching(q: str | None) -> list[str]:
    predicate = compile_query(q)
    return [f.name for f in FILES if predicate(f)]


def test_empty_query_matches_everything() -> None:
    assert len(matching(None)) == len(matching("  ")) == 3


def test_escaped_quotes_and_combinations() -> None:
    assert matching(r"name = 'O\'Brien FC (t1)'") == ["O'Brien FC (t1)"]
    assert matching("trashed = false and not name contains 'beta'") == ["O'Brien FC (t1)"]
    assert matching("trashed = true or appProperties has { key='tenantId' and value='t1' }") == [
        "O'Brien FC (t1)",
        "Gone (t3)",
    ]
    assert matching("properties has { key='tenantId' and value='t1' }") == []
    assert matching("mimeType != 'application/vnd.google-apps.folder'") == [f.name for f in FILES]


@pytest.mark.parametrize(
    "q",
    [
        "name = ",
        "name ~ 'x'",
        "owner = 'x'",
        "(name = 'x'",
        "name = 'x' and",
        "appProperties has { key='a' }",
        "trashed = maybe",
        "mimeType contains 'x'",
    ],
)
def test_malformed_queries_raise(q: str) -> None:
    with pytest.raises(QueryError):
        compile_query(q)
