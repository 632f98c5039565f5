"""Dependencies as `Annotated` aliases: the services of `api.services`, the request's read
connection, the client address and the authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from sqlalchemy import bindparam, exists, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from api.services import Services
from syston.core.db import RevokedToken, Tenant, TokenCutoff
from syston.core.engine import ReadConnection
from syston.core.text import UNSTORABLE_MESSAGE, is_storable
from syston.plan_change import PlanChanges
from syston.provisioning_client import TemporalGateway
from syston.requeue import RequeueService
from syston.signup import SignupService
from syston.suspension import LOCKED_OUT_STATUSES
from syston.tokens import Forbidden, Principal, TokenKind, TokenService, bearer_token, require

# Every dependency is `async def`, even those that only read an attribute: FastAPI runs a plain
# `def` dependency in a thread pool, a hop that cost more than the status read's query did
# (bench/README.md).


async def get_services(request: Request) -> Services:
    """The process's services, built in the app lifespan (api.services)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def request_reads(services: ServicesDep) -> AsyncIterator[ReadConnection]:
    """The request's reads (authentication's and the route's): syston.core.engine.ReadConnection."""
    reads = ReadConnection(services.engine)
    try:
        yield reads
    finally:
        await reads.close()


async def client_host(request: Request) -> str:
    """The client's address as the server resolved it (trusted proxies only)."""
    return request.client.host if request.client is not None else "unknown"


async def _sessions(services: ServicesDep) -> async_sessionmaker[AsyncSession]:
    return services.sessions


async def _temporal(services: ServicesDep) -> TemporalGateway:
    return services.temporal


async def _tokens(services: ServicesDep) -> TokenService:
    return services.tokens


async def _signup(services: ServicesDep) -> SignupService:
    return services.signup


async def _requeue(services: ServicesDep) -> RequeueService:
    return services.requeue


async def _plan_changes(services: ServicesDep) -> PlanChanges:
    return services.plan_changes


Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
Reads = Annotated[ReadConnection, Depends(request_reads)]
Temporal = Annotated[TemporalGateway, Depends(_temporal)]
Tokens = Annotated[TokenService, Depends(_tokens)]
Signup = Annotated[SignupService, Depends(_signup)]
Requeue = Annotated[RequeueService, Depends(_requeue)]
PlanChangesDep = Annotated[PlanChanges, Depends(_plan_changes)]
Admin = ServicesDep  # the admin routes use several services: tenants, promos, stats, …
ClientHost = Annotated[str, Depends(client_host)]


class BearerHeader(HTTPBearer):
    """Declares the bearer scheme in OpenAPI (so clients and Schemathesis know where the token
    goes); the header is handed over raw, because `bearer_token` gives the contract's reasons."""

    async def __call__(self, request: HTTPConnection) -> str | None:  # type: ignore[override]
        return request.headers.get("Authorization")


bearer_header = BearerHeader(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An HS256 JWT: admin (aud syston-admin), service (aud internal) or tenant "
    "(aud syston-mobile, from signup).",
    auto_error=False,
)


# One round trip for the three checks every authenticated request makes, built once (a NULL
# jti or tenant id matches nothing): the token's revocation, a cut-off after it was issued, and
# for a tenant's own token, its tenant being suspended or offboarded.
_ACCESS_CHECK = select(
    exists().where(RevokedToken.jti == bindparam("jti")),
    exists().where(
        # two plain parameters rather than an expanding list, so the SQL is rendered once
        TokenCutoff.scope.in_((bindparam("scope_all"), bindparam("scope_tenant"))),
        TokenCutoff.not_before > bindparam("issued"),
    ),
    exists().where(Tenant.id == bindparam("tenant_id"), Tenant.status.in_(LOCKED_OUT_STATUSES)),
)


def _access_check(db: Connection, params: dict[str, Any]) -> tuple[bool, bool, bool]:
    is_revoked, is_cut_off, is_locked_out = db.execute(_ACCESS_CHECK, params).one()
    return bool(is_revoked), bool(is_cut_off), bool(is_locked_out)


async def authenticate(
    request: Request,
    tokens: Tokens,
    reads: Reads,
    authorization: Annotated[str | None, Depends(bearer_header)],
) -> Principal:
    """Verify the bearer token and check revocation, cut-off and, for a tenant's own token,
    that the tenant is not suspended or being offboarded (on every request)."""
    principal = tokens.authenticate(bearer_token(authorization))
    request.state.token_sub = principal.sub
    is_revoked, is_cut_off, is_locked_out = await reads.run(
        _access_check,
        {
            "jti": principal.jti,
            "scope_all": "*",
            "scope_tenant": principal.tenant_id,
            "issued": datetime.fromtimestamp(principal.iat, UTC),
            "tenant_id": principal.tenant_id,
        },
    )
    if is_revoked:
        raise Forbidden("token_revoked", "this token has been revoked")
    if is_cut_off:
        raise Forbidden("token_revoked", "this token was issued before a cut-off")
    if is_locked_out:
        raise Forbidden("tenant_suspended", "the tenant is suspended")
    return principal


Caller = Annotated[Principal, Depends(authenticate)]


def allow(
    *kinds: TokenKind, tenant_param: str | None = None
) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only `kinds`; with `tenant_param`, a tenant token only for its
    own tenant (403 tenant_mismatch otherwise)."""
    allowed: Collection[TokenKind] = frozenset(kinds)

    async def dependency(request: Request, principal: Caller) -> Principal:
        tenant_id = request.path_params.get(tenant_param) if tenant_param else None
        require(principal, allowed, tenant_id=tenant_id)
        refuse_unstorable_parameters(request)
        return principal

    return dependency


def refuse_unstorable_parameters(request: Request) -> None:
    """422 VALIDATION for a path or query parameter holding text the databases cannot store
    (bodies are checked by `api.schemas.requests.RequestModel`). Run once the caller is
    admitted, so an anonymous or unauthorised request still gets its 401/403 first."""
    errors = [
        {"loc": (where, name), "msg": UNSTORABLE_MESSAGE, "type": "unstorable_text"}
        for where, params in (
            ("path", list(request.path_params.items())),
            ("query", request.query_params.multi_items()),
        )
        for name, value in params
        if isinstance(value, str) and not is_storable(value)
    ]
    if errors:
        raise RequestValidationError(errors)


AdminCaller = Annotated[Principal, Depends(allow("admin"))]
ServiceCaller = Annotated[Principal, Depends(allow("service"))]


TenantOwnerCaller = Annotated[Principal, Depends(allow("tenant", tenant_param="tenantId"))]
"""A tenant token (role owner or tenant_admin) of the route's `tenantId`."""
