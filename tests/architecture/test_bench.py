"""`make bench` stays runnable: every command of its recipe is a bench script that exists,
imports, and accepts the flags the recipe passes (the benchmarks themselves take minutes and
are not part of the suite; bench/README.md records their results)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bench.profile_stack import top_table

ROOT = Path(__file__).resolve().parents[2]


def bench_commands() -> list[list[str]]:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^bench:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None, "the Makefile has no bench target"
    return [shlex.split(line.strip()) for line in recipe.group(1).splitlines()]


@pytest.mark.fast
def test_the_bench_recipe_runs_bench_scripts() -> None:
    scripts = [cmd[1] for cmd in bench_commands()]
    assert scripts == [
        "bench/bench_provisioning.py",
        "bench/bench_ledger.py",
        "bench/temporal_costs.py",
        "bench/bench_scale.py",
        "bench/profile_stack.py",
    ]


@pytest.mark.fast
@pytest.mark.parametrize("command", bench_commands(), ids=lambda c: c[1])
def test_every_flag_of_the_recipe_is_one_the_script_accepts(command: list[str]) -> None:
    script = ROOT / command[1]
    assert script.is_file()
    usage = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for flag in (arg for arg in command[2:] if arg.startswith("--")):
        assert flag in usage, f"{command[1]} does not accept {flag}"


@pytest.mark.fast
def test_the_profile_table_counts_self_and_inclusive_samples(tmp_path: Path) -> None:
    raw = tmp_path / "worker.txt"
    raw.write_text(
        'process 1:"worker";thread (0x1);main (worker.py:1);'
        "step (activities/provisioning.py:10);execute (sqlalchemy/orm/session.py:5) 3\n"
        'process 1:"worker";main (worker.py:1);step (activities/provisioning.py:11) 1\n'
    )
    table = top_table(raw, 5)
    assert "4 samples" in table
    assert "75.0%  sqlalchemy" in table  # self, by package
    assert "75.0%  execute (sqlalchemy/orm/session.py)" in table  # self, by function
    assert "100.0%  step (activities/provisioning.py)" in table  # ours, lines merged
    assert "session.py)" not in table.split("inclusive, our code")[1]
