"""RFC 9457 problem details and the one table of what each error status means."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class FieldError(BaseModel):
    """One invalid field of a request: `clubSlug`, `email`, `body`, a header's name, …"""

    field: str
    message: str


class ProblemDetail(BaseModel):
    """RFC 9457 problem details; `code` is always present."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str
    reason: str | None = None
    errors: list[FieldError] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring problem+json error statuses."""
    return {
        status: {
            "model": ProblemDetail,
            "content": {"application/problem+json": {}},
            "description": STATUS_DESCRIPTIONS.get(status, "Error"),
        }
        for status in statuses
    }


STATUS_DESCRIPTIONS = {
    401: "Missing or invalid token (reason in the body)",
    403: "Token not allowed here (reason in the body)",
    404: "Not found",
    409: "Conflict",
    413: "Body over 64 KiB",
    415: "Content-Type is not application/json",
    422: "Validation failed (per-field `errors`)",
    429: "Rate limited (Retry-After)",
    503: "Database or Temporal unavailable (Retry-After)",
}
"""What each error status means, for the OpenAPI document (docs/http-api.md#errors)."""
