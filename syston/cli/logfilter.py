"""`syston logs`: filter the JSON log (docs/log-events.md) like the runbook's watch-logs.sh.

    signup     signup_* events
    tenant     any line with tenant_id = --tenant ID (or $TENANT_ID)
    provision  tenant_provision_*, provision_requeue and the intake's intake_*
    deny       authz_deny
    errors     level error (or worse), or an HTTP status >= 500
    (none)     every JSON line

Matching lines are printed unchanged (pipe them to jq) or, with --pretty, one readable line
each. Lines that are not JSON are skipped; a prefix before the first `{` (as `docker compose
logs` adds) is tolerated. `--follow` keeps reading like `tail -F`: it waits for the file to
appear, and reopens it when it is rotated (a new inode) or truncated.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Final

FILTERS: Final = ("signup", "tenant", "provision", "deny", "errors")
POLL_SECONDS: Final = 0.2
_ERROR_LEVELS: Final = frozenset({"error", "critical", "fatal"})
_FIRST_FIELDS: Final = ("ts", "level", "event", "request_id", "logger", "component")


def parse(line: str) -> dict[str, Any] | None:
    """The JSON object on this line, or None for anything else."""
    start = line.find("{")
    if start < 0:
        return None
    try:
        record = json.loads(line[start:])
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def matcher(kind: str | None, tenant_id: str | None = None) -> Callable[[dict[str, Any]], bool]:
    """The predicate of one filter; `tenant_id` narrows any filter to that tenant."""

    def event(record: dict[str, Any]) -> str:
        return str(record.get("event") or "")

    def by_kind(record: dict[str, Any]) -> bool:
        name = event(record)
        if kind == "signup":
            return name.startswith("signup_")
        if kind == "provision":
            return name.startswith(("tenant_provision_", "intake_")) or name == "provision_requeue"
        if kind == "deny":
            return name == "authz_deny"
        if kind == "errors":
            status = record.get("status")
            return str(record.get("level", "")).lower() in _ERROR_LEVELS or (
                isinstance(status, int) and status >= 500
            )
        return True  # "tenant" and no filter: every line (narrowed by tenant below)

    def predicate(record: dict[str, Any]) -> bool:
        if tenant_id is not None and record.get("tenant_id") != tenant_id:
            return False
        return by_kind(record)

    return predicate


def pretty(record: dict[str, Any]) -> str:
    """`12:00:01.234 WARN  api authz_deny  reason=role_mismatch route=/…  [req 3f2a…]`."""
    ts = str(record.get("ts", ""))
    clock = ts[11:23] if len(ts) >= 23 else ts
    level = str(record.get("level", "")).upper()
    fields = " ".join(
        f"{key}={_value(value)}"
        for key, value in record.items()
        if key not in _FIRST_FIELDS and value is not None
    )
    component = f"{record['component']} " if record.get("component") else ""
    line = f"{clock} {level:<5} {component}{record.get('event', '')}"
    if fields:
        line += f"  {fields}"
    if record.get("request_id"):
        line += f"  [req {record['request_id']}]"
    return line


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value)
    return json.dumps(value, default=str)


def follow(
    path: Path, *, from_start: bool = False, stop: Callable[[], bool] | None = None
) -> Iterator[str]:
    """Lines appended to `path` from now on (or from the start), across rotation/truncation.

    Yields complete lines only; `stop()` returning True ends the iteration (tests).
    """
    handle: IO[str] | None = None
    inode: int | None = None
    partial = ""
    first_open = True
    try:
        while stop is None or not stop():
            if handle is None:
                try:
                    handle = path.open(encoding="utf-8", errors="replace")
                except FileNotFoundError:
                    time.sleep(POLL_SECONDS)
                    continue
                inode = os.fstat(handle.fileno()).st_ino
                if first_open and not from_start:
                    handle.seek(0, os.SEEK_END)
                first_open = False
                partial = ""
            chunk = handle.readline()
            if chunk:
                partial += chunk
                if partial.endswith("\n"):
                    yield partial
                    partial = ""
                continue
            # At the end: has the file been rotated away or truncated under us?
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            if current is None or current.st_ino != inode:
                if current is not None or partial:
                    # Drain what the old file still has, then switch to the new one.
                    rest = handle.read()
                    if rest or partial:
                        for line in (partial + rest).splitlines(keepends=True):
                            yield line if line.endswith("\n") else line + "\n"
                    partial = ""
                handle.close()
                handle = None
                continue
            if current.st_size < handle.tell():
                handle.seek(0)  # truncated (copytruncate): start again from the top
                partial = ""
                continue
            time.sleep(POLL_SECONDS)
    finally:
        if handle is not None:
            handle.close()


def default_log_file() -> Path:
    """LOG_FILE, or where `syston dev` writes: `<data dir>/logs/syston.log`."""
    from syston.core.settings import Settings

    settings = Settings()
    if settings.log_file is not None:
        return settings.log_file
    return settings.data_dir / "logs" / "syston.log"


def run(
    lines: Iterator[str],
    keep: Callable[[dict[str, Any]], bool],
    out: IO[str],
    *,
    as_pretty: bool,
) -> int:
    """Print the matching lines; returns how many matched."""
    matched = 0
    for line in lines:
        record = parse(line)
        if record is None or not keep(record):
            continue
        matched += 1
        out.write(
            pretty(record) + "\n" if as_pretty else line if line.endswith("\n") else line + "\n"
        )
        out.flush()
    return matched
