"""A real-format Google service-account key for local development and tests.

google-auth loads it like any downloaded key and, because its `token_uri` points at the
emulator, performs the real JWT-bearer token exchange there (the emulator checks the
assertion's form, not its signature). The private key is a fresh RSA-2048 key.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEV_PROJECT_ID = "syston-dev"
DEV_CLIENT_EMAIL = f"provisioning@{DEV_PROJECT_ID}.iam.gserviceaccount.com"


def generate_service_account_key(token_uri: str) -> dict[str, Any]:
    """A new service-account key (the JSON Google's console downloads) using `token_uri`."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")
    email_path = DEV_CLIENT_EMAIL.replace("@", "%40")
    return {
        "type": "service_account",
        "project_id": DEV_PROJECT_ID,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": DEV_CLIENT_EMAIL,
        "client_id": str(10**20 + secrets.randbelow(9 * 10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email_path}",
        "universe_domain": "googleapis.com",
    }


def write_dev_key(path: str | os.PathLike[str], token_uri: str) -> dict[str, Any]:
    """Create the dev key at `path` (mode 0600) once; later calls reuse it.

    A reused key whose `token_uri` differs (the emulator moved to another port) gets the new
    `token_uri`; the key material itself is kept.
    """
    target = Path(path)
    key: dict[str, Any] | None = None
    if target.exists():
        try:
            loaded = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = None
        if isinstance(loaded, dict) and loaded.get("type") == "service_account":
            key = loaded
    if key is not None and key.get("token_uri") == token_uri:
        target.chmod(0o600)
        return key
    if key is None:
        key = generate_service_account_key(token_uri)
    else:
        key["token_uri"] = token_uri
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a reader never sees half a key.
    descriptor, temporary = tempfile.mkstemp(prefix=".dev-key-", dir=target.parent)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(key, handle, indent=2)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return key
