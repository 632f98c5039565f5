"""The dev service-account key: accepted by google-auth, written once, kept private."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from google.oauth2 import service_account

from emulators.dev_key import generate_service_account_key, write_dev_key


def test_generated_key_loads_in_google_auth() -> None:
    info = generate_service_account_key("http://127.0.0.1:8099/token")
    credentials = service_account.Credentials.from_service_account_info(info)
    assert credentials.service_account_email == info["client_email"]
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert info["token_uri"] == "http://127.0.0.1:8099/token"


def test_write_dev_key_creates_once_then_reuses(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "google-dev-key.json"
    first = write_dev_key(path, "http://127.0.0.1:8099/token")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == first

    again = write_dev_key(path, "http://127.0.0.1:8099/token")
    assert again["private_key"] == first["private_key"]

    moved = write_dev_key(path, "http://127.0.0.1:9000/token")
    assert moved["private_key"] == first["private_key"]
    assert json.loads(path.read_text())["token_uri"] == "http://127.0.0.1:9000/token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_dev_key_replaces_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text("{not json")
    key = write_dev_key(path, "http://127.0.0.1:8099/token")
    assert key["type"] == "service_account"
    assert json.loads(path.read_text())["private_key_id"] == key["private_key_id"]
