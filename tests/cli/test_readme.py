"""The README stays true: every setting in its table, every `syston` command it shows is real,
every script it names exists and is executable."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from syston.cli import build_parser
from tests.support.cli import setting_env_names

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_configuration_table_lists_every_setting() -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    # Every setting is named in the table (older alias names in their row's text) ...
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    # ... and every name in its first column is a setting.
    first_column = re.findall(r"^\| ([^|]+) \|", table, flags=re.MULTILINE)
    documented = {n for cell in first_column for n in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    expected = setting_env_names() - {"SYSTON_SUPERVISOR_PID"}
    assert expected - named == set()
    assert documented - expected == set()


def test_every_syston_command_shown_parses() -> None:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    shown = re.findall(r"(?:^|[\s`(])syston ([a-z]+)\b", README)
    assert {"dev", "status", "requeue", "logs", "smoke", "token"} <= set(shown)
    for name in shown:
        assert name in action.choices, name


def test_the_scripts_it_names_exist_and_are_executable() -> None:
    for script in set(re.findall(r"scripts/[\w.-]+\.sh", README)):
        path = ROOT / script
        assert path.is_file(), script
        assert os.access(path, os.X_OK), script
