from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import clean_environ


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no Syston settings and its data dir in tmp_path."""
    return clean_environ(tmp_path / "data")
