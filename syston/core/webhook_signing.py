"""Standard Webhooks signatures for lifecycle events (docs/http-api.md#signed-lifecycle-events).

A secret is `whsec_` + base64 of the key bytes. The signed content is `{id}.{timestamp}.{body}`
(the exact body bytes sent); the signature header is `v1,<base64 HMAC-SHA256>`, one per key,
space-separated, so during a rotation a receiver holding either secret verifies the event.
Everything here is deterministic: the same event signs the same on every retry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Final

SECRET_PREFIX: Final = "whsec_"
MIN_KEY_BYTES: Final = 24
GENERATED_KEY_BYTES: Final = 32


def parse_signing_secret(secret: str) -> bytes:
    """The key bytes of a `whsec_<base64>` secret; ValueError when it is not one."""
    text = secret.strip()
    if not text.startswith(SECRET_PREFIX):
        raise ValueError(f"must look like {SECRET_PREFIX}<base64> (generate one with `syston dev`)")
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the part after {SECRET_PREFIX} must be base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the key must be at least {MIN_KEY_BYTES} bytes")
    return key


def generate_signing_secret() -> str:
    """A fresh `whsec_` secret (what `syston dev` keeps in its data dir)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(GENERATED_KEY_BYTES)).decode()


def sign(key: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    content = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(
    keys: Sequence[bytes], event_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The Standard Webhooks headers of one event (no signature header without a key), plus
    `Idempotency-Key` = the event id."""
    headers = {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "Idempotency-Key": event_id,
    }
    if keys:
        headers["webhook-signature"] = " ".join(sign(k, event_id, timestamp, body) for k in keys)
    return headers
