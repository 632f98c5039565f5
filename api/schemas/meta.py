"""Liveness and readiness."""

from __future__ import annotations

from pydantic import BaseModel


class Health(BaseModel):
    ok: bool


class Readiness(BaseModel):
    ok: bool
    checks: dict[str, str]
