"""What `syston dev` runs and with which environment: the user's settings plus announced local
defaults (a JWT secret generated once into the data dir, SQLite, the emulators, a log file).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    from syston.core.settings import Settings

HOST = "127.0.0.1"
JWT_SECRET_FILE = "jwt_secret"
SIGNING_SECRET_FILE = "webhook_signing_secret"
DEV_KEY_FILE = "dev-service-account.json"
STARTUP_TIMEOUT = 90.0  # seconds; a cold Temporal start on 2 busy cores takes ~10 s
# With LOG_LEVEL above INFO the worker's `worker_started` line is never written: it counts as up
# once it has stayed alive this long (a bad setting makes it exit sooner).
QUIET_WORKER_START = 5.0
SUPERVISOR_PID_VAR = "SYSTON_SUPERVISOR_PID"
GRACE_PERIOD = 10.0  # seconds between SIGTERM and SIGKILL
BANNER_TOKEN_TTL = 12 * 3600  # the printed tokens outlive a working day's session

TEMPORAL_PROFILE_FILE = "temporal.toml"
# Children inherit our environment except what would point them somewhere else than this stack
# (a Temporal Cloud profile, key or certificate). TEMPORAL_CONFIG_FILE is replaced by the
# stack's own profile file, so a ~/.config/temporalio/temporal.toml is not read either.
_TEMPORAL_CLOUD_VARS = (
    "TEMPORAL_PROFILE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CERT",
    "TEMPORAL_TLS_KEY",
    "TEMPORAL_TLS_CA",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
    "TEMPORAL_GRPC_META",
    "TEMPORAL_CODEC_ENDPOINT",
    "TEMPORAL_CODEC_AUTH",
)


class DevStackError(Exception):
    """`syston dev` cannot start or keep running; the message says why and what to do."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class DevOptions:
    api_port: int = 8000
    temporal_port: int = 7233
    ui_port: int = 8233
    emulator_port: int = 8099
    data_dir: Path | None = None  # None: $SYSTON_DATA_DIR or .data


@dataclass
class DevPlan:
    """What `syston dev` will run, with which environment, and the defaults it chose."""

    data_dir: Path
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)
    emulators: bool = False
    log_level: str = "INFO"  # the children's LOG_LEVEL


def say(message: str) -> None:
    print(f"syston dev: {message}", file=sys.stderr, flush=True)


# -- the dev JWT secret ------------------------------------------------------------------------


def read_dev_jwt_secret(data_dir: Path) -> bytes | None:
    """The secret `syston dev` generated in `data_dir`, if there is one."""
    path = Path(data_dir) / JWT_SECRET_FILE
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return secret.encode() if secret else None


def ensure_dev_jwt_secret(data_dir: Path) -> tuple[str, bool]:
    """The dev secret, generated (0600) on first use. Returns (secret, created)."""
    # 64 characters, well over the 32-byte minimum
    return _ensure_secret(Path(data_dir) / JWT_SECRET_FILE, lambda: secrets.token_urlsafe(48))


def ensure_dev_signing_secret(data_dir: Path) -> tuple[str, bool]:
    """The dev `whsec_` secret that signs lifecycle events, generated (0600) on first use."""
    from syston.core.webhook_signing import generate_signing_secret

    return _ensure_secret(Path(data_dir) / SIGNING_SECRET_FILE, generate_signing_secret)


def _ensure_secret(path: Path, generate: Callable[[], str]) -> tuple[str, bool]:
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing, False
    secret = generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret, True


# -- planning ----------------------------------------------------------------------------------


def plan_dev_stack(options: DevOptions, environ: dict[str, str] | None = None) -> DevPlan:
    """The children's environment: the user's settings, plus local defaults for what is missing.

    Raises `DevStackError` (exit 2) for settings that cannot work.
    """
    from syston.core.settings import Settings

    env = dict(os.environ if environ is None else environ)
    if options.data_dir is not None:
        env["SYSTON_DATA_DIR"] = str(options.data_dir)
    # Read what the user configured (environment and .env) the way every child will.
    settings = _settings_from(env, Settings)
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env["SYSTON_DATA_DIR"] = str(data_dir)
    plan = DevPlan(data_dir=data_dir, env=env, log_level=settings.log_level.upper())
    note = plan.notes.append

    if settings.jwt_secret is None:
        secret, created = ensure_dev_jwt_secret(data_dir)
        env["JWT_SECRET"] = secret
        where = data_dir / JWT_SECRET_FILE
        note(f"JWT_SECRET not set: {'generated' if created else 'using'} a local one in {where}")

    if settings.webhook_signing_secret is None:
        signing, created = ensure_dev_signing_secret(data_dir)
        env["WEBHOOK_SIGNING_SECRET"] = signing
        where = data_dir / SIGNING_SECRET_FILE
        note(
            f"WEBHOOK_SIGNING_SECRET not set: {'generated' if created else 'using'} a local one "
            f"in {where} (lifecycle events are signed with it)"
        )

    if not settings.database_url:
        env["DATABASE_URL"] = settings.effective_database_url
        note(f"DATABASE_URL not set: SQLite at {data_dir / 'syston.db'}")

    _default_upstreams(plan, settings, f"http://{HOST}:{options.emulator_port}")

    if settings.log_file is None:
        log_file = data_dir / "logs" / "syston.log"
        env["LOG_FILE"] = str(log_file)
        note(f"LOG_FILE not set: JSON logs also go to {log_file}")
    Path(env["LOG_FILE"]).parent.mkdir(parents=True, exist_ok=True)

    # This stack runs its own Temporal: point every child at it, whatever was configured.
    env["TEMPORAL_ADDRESS"] = f"{HOST}:{options.temporal_port}"
    for name in _TEMPORAL_CLOUD_VARS:
        env.pop(name, None)
    env["TEMPORAL_CONFIG_FILE"] = str(
        _write_temporal_profile(data_dir, env["TEMPORAL_ADDRESS"], settings.temporal_namespace)
    )
    env["PYTHONUNBUFFERED"] = "1"

    _settings_from(env, Settings)  # the children will start with exactly this; fail now if not
    return plan


def _default_upstreams(plan: DevPlan, settings: Settings, emulator: str) -> None:
    """Point whatever Google, Apps Script and Make settings are missing at the emulators."""
    google_given = bool(settings.google_service_account_key or settings.google_api_endpoint)
    if not google_given:
        plan.emulators = True
        key_path = plan.data_dir / DEV_KEY_FILE
        _write_dev_key(key_path, f"{emulator}/token")
        plan.env["GOOGLE_API_ENDPOINT"] = emulator
        plan.env["GOOGLE_SERVICE_ACCOUNT_KEY"] = str(key_path)
        plan.notes.append(f"Google not configured: emulated at {emulator} (dev key {key_path})")
        if not settings.google_drive_folder_id:
            from emulators.state import DEV_DRIVE_FOLDER_ID

            plan.env["GOOGLE_DRIVE_FOLDER_ID"] = DEV_DRIVE_FOLDER_ID
    if not settings.gas_webapp_url and (plan.emulators or settings.sheets_backend == "apps_script"):
        plan.emulators = True
        plan.env["GAS_WEBAPP_URL"] = f"{emulator}/gas/exec"
        plan.notes.append(f"GAS_WEBAPP_URL not set: Apps Script emulated at {emulator}/gas/exec")
    if not settings.make_webhook_url:
        plan.emulators = True
        plan.env["MAKE_WEBHOOK_URL"] = f"{emulator}/make/hooks/dev"
        plan.notes.append(f"MAKE_WEBHOOK_URL not set: Make emulated at {emulator}/make/hooks/dev")


def _settings_from(env: dict[str, str], settings_cls: type[Settings]) -> Settings:
    from syston.cli.common import describe_settings_error

    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return settings_cls()
    except ValidationError as exc:
        raise DevStackError(describe_settings_error(exc), exit_code=2) from None
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _write_temporal_profile(data_dir: Path, address: str, namespace: str | None) -> Path:
    """The stack's Temporal client profile, for the children and for the `temporal` CLI
    (`TEMPORAL_CONFIG_FILE=<data dir>/temporal.toml temporal workflow list`)."""
    path = data_dir / TEMPORAL_PROFILE_FILE
    path.write_text(
        "# Written by `syston dev`: its Temporal dev server.\n"
        f'[profile.default]\naddress = "{address}"\nnamespace = "{namespace or "default"}"\n',
        encoding="utf-8",
    )
    return path


def _write_dev_key(path: Path, token_uri: str) -> None:
    from emulators.dev_key import write_dev_key

    write_dev_key(path, token_uri)
