"""The service's expected errors: each has a stable `code`, an HTTP status and a title.

    ServiceError (code, status, title, detail)
    ├── ValidationFailed        422 VALIDATION (errors: [{field, message}])
    ├── Conflict                409 SLUG_TAKEN, EMAIL_EXISTS, IDEMPOTENCY_IN_PROGRESS
    │   ├── TenantNotActive     409 TENANT_NOT_ACTIVE (a lifecycle action on the wrong status)
    │   └── LifecycleInProgress 409 LIFECYCLE_IN_PROGRESS (another lifecycle workflow runs)
    ├── Unprocessable           422 INVALID_PROMO, IDEMPOTENCY_KEY_REUSED, WEBHOOK_URL_REJECTED
    ├── NotFound                404 TENANT_NOT_FOUND, …
    ├── AuthFailed              401 UNAUTHORIZED / 403 FORBIDDEN (reason) — from syston.tokens
    ├── RateLimited             429 RATE_LIMITED (retry_after)
    └── Unavailable             503 UNAVAILABLE (retry_after): database or Temporal down

The API renders every one as problem+json (api/problems.py); nothing expected is ever a 500.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 500
    code = "INTERNAL"
    title = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        title: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        if title:
            self.title = title
        self.extra = extra or {}
        self.headers = headers or {}


class ValidationFailed(ServiceError):
    status = 422
    code = "VALIDATION"
    title = "Request validation failed"

    def __init__(self, detail: str, errors: list[dict[str, str]]) -> None:
        super().__init__(detail, extra={"errors": errors})


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class TenantNotActive(Conflict):
    code = "TENANT_NOT_ACTIVE"
    title = "Tenant not in a status that allows this"

    def __init__(self, tenant_id: str, status: str, action: str) -> None:
        super().__init__(f"Tenant '{tenant_id}' is {status}: it cannot be {action}.")


class LifecycleInProgress(Conflict):
    code = "LIFECYCLE_IN_PROGRESS"
    title = "Another lifecycle operation is running"

    def __init__(self, tenant_id: str, running: str) -> None:
        super().__init__(f"Tenant '{tenant_id}' has a {running} running; retry when it is done.")


class Unprocessable(ServiceError):
    status = 422
    title = "Unprocessable request"


class NotFound(ServiceError):
    status = 404
    code = "NOT_FOUND"
    title = "Not found"


class TenantNotFoundError(NotFound):
    code = "TENANT_NOT_FOUND"
    title = "Tenant not found"

    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"No tenant with id '{tenant_id}'.")


class RateLimited(ServiceError):
    status = 429
    code = "RATE_LIMITED"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class Unavailable(ServiceError):
    status = 503
    code = "UNAVAILABLE"
    title = "Service temporarily unavailable"

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
