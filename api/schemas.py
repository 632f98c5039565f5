"""Request and response models of the HTTP API (field names as clients expect them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"


class SignupRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    clubName: str = Field(min_length=1, max_length=100)
    clubSlug: str = Field(min_length=3, max_length=63, pattern=SLUG_PATTERN)
    email: EmailStr = Field(max_length=320)
    plan: Literal["starter", "pro"]
    promoCode: str | None = Field(default=None, max_length=64)


class SignupAccepted(BaseModel):
    tenantId: str
    status: str
    plan: str
    jwt: str
    statusUrl: str


class SignupReplayed(BaseModel):
    tenantId: str
    status: str
    plan: str
    statusUrl: str
    replayed: bool


class StepError(BaseModel):
    code: str
    message: str


class StepView(BaseModel):
    name: str
    status: str
    attempts: int
    startedAt: str | None
    completedAt: str | None
    error: StepError | None


class ResourcesView(BaseModel):
    spreadsheetId: str | None
    spreadsheetUrl: str | None
    webhookUrl: str | None


class TenantError(BaseModel):
    step: str | None
    code: str | None
    message: str | None


class WorkflowRef(BaseModel):
    id: str
    runId: str | None


class ProvisionStatusView(BaseModel):
    tenantId: str
    slug: str
    plan: str
    status: str
    steps: list[StepView]
    resources: ResourcesView
    createdAt: str
    updatedAt: str
    provisionedAt: str | None
    error: TenantError | None
    workflow: WorkflowRef


class QueueRequest(BaseModel):
    tenantId: str = Field(min_length=1, max_length=64)
    force: bool = False


class QueueResponse(BaseModel):
    tenantId: str
    status: str
    action: Literal["resumed", "restarted", "already_running", "already_active"]
    workflowId: str
    runId: str | None


class Health(BaseModel):
    ok: bool


class Readiness(BaseModel):
    ok: bool
    checks: dict[str, str]


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
            "description": _DESCRIPTIONS.get(status, "Error"),
        }
        for status in statuses
    }


_DESCRIPTIONS = {
    401: "Missing or invalid token (reason in the body)",
    403: "Token not allowed here (reason in the body)",
    404: "Not found",
    409: "Conflict",
    413: "Body over 64 KiB",
    415: "Content-Type is not application/json",
    422: "Validation failed",
    429: "Rate limited (Retry-After)",
    503: "Database or Temporal unavailable (Retry-After)",
}
