"""The production shape runs on this machine: two APIs and two workers on PostgreSQL behind a
reverse proxy, rate limits per client, every tenant active (scripts/production_shape.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.database import PG_ADMIN_DSN

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_production_shape_script_passes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "production_shape.py")],
        env={**os.environ, "SYSTON_TEST_PG": PG_ADMIN_DSN},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "production shape: OK" in result.stdout
    assert result.stdout.count("3 accepted, 2 rate-limited") == 6
