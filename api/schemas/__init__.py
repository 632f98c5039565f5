"""Request and response models of the HTTP API, one module per area (field names as clients
expect them: docs/http-api.md)."""

from api.schemas.internal import QueueRequest, QueueResponse
from api.schemas.meta import Health, Readiness
from api.schemas.problems import STATUS_DESCRIPTIONS, FieldError, ProblemDetail, problem_responses
from api.schemas.signup import SLUG_PATTERN, SignupAccepted, SignupReplayed, SignupRequest
from api.schemas.tenants import (
    TENANT_ID_PATTERN,
    ProvisionStatusView,
    ResourcesView,
    StepError,
    StepView,
    TenantError,
    WorkflowRef,
    rfc3339,
)

__all__ = [
    "SLUG_PATTERN",
    "STATUS_DESCRIPTIONS",
    "TENANT_ID_PATTERN",
    "FieldError",
    "Health",
    "ProblemDetail",
    "ProvisionStatusView",
    "QueueRequest",
    "QueueResponse",
    "Readiness",
    "ResourcesView",
    "SignupAccepted",
    "SignupReplayed",
    "SignupRequest",
    "StepError",
    "StepView",
    "TenantError",
    "WorkflowRef",
    "problem_responses",
    "rfc3339",
]
