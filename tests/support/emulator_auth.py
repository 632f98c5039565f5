"""Small helpers for talking to the emulators directly over HTTP."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def assertion(**overrides: Any) -> str:
    """A well-formed (unsigned) service-account JWT-bearer assertion."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "tests@syston-dev.iam.gserviceaccount.com",
        "aud": "http://127.0.0.1/token",
        "scope": "https://www.googleapis.com/auth/drive",
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    header = {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    return f"{_segment(header)}.{_segment(claims)}.c2lnbmF0dXJl"


def access_token(client: httpx.Client) -> str:
    response = client.post("/token", data={"grant_type": JWT_BEARER, "assertion": assertion()})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def authed_client(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=10)
    client.headers["Authorization"] = f"Bearer {access_token(client)}"
    return client
