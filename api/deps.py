"""Dependencies as `Annotated` aliases: settings, sessions, Temporal, services, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy import exists, false, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from syston.core.db import RevokedToken, TokenCutoff
from syston.core.settings import Settings
from syston.provisioning_client import TemporalGateway
from syston.signup import SignupService
from syston.tokens import Forbidden, Principal, TokenKind, TokenService, bearer_token, require


def _state(request: Request) -> Any:
    return request.app.state


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = _state(request).settings
    return settings


def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = _state(request).sessions
    return sessions


class RequestReads:
    """The request's one read connection, opened on first use (a request refused before
    reaching the database never takes one) and shared by authentication and the route."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def connection(self) -> AsyncConnection:
        if self._connection is None:
            self._connection = await self._engine.connect()
        return self._connection

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


async def request_reads(request: Request) -> AsyncIterator[RequestReads]:
    reads = RequestReads(_state(request).engine)
    try:
        yield reads
    finally:
        await reads.close()


def get_temporal(request: Request) -> TemporalGateway:
    gateway: TemporalGateway = _state(request).temporal
    return gateway


def get_tokens(request: Request) -> TokenService:
    tokens: TokenService = _state(request).tokens
    return tokens


def get_signup(request: Request) -> SignupService:
    service: SignupService = _state(request).signup
    return service


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
Reads = Annotated[RequestReads, Depends(request_reads)]
Temporal = Annotated[TemporalGateway, Depends(get_temporal)]
Tokens = Annotated[TokenService, Depends(get_tokens)]
Signup = Annotated[SignupService, Depends(get_signup)]


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


async def authenticate(
    request: Request,
    tokens: Tokens,
    reads: Reads,
    authorization: Annotated[str | None, Depends(bearer_header)],
) -> Principal:
    """Verify the bearer token and check revocation and cut-off (on every request)."""
    principal = tokens.authenticate(bearer_token(authorization))
    request.state.token_sub = principal.sub
    scopes = ["*"] + ([principal.tenant_id] if principal.tenant_id else [])
    issued = datetime.fromtimestamp(principal.iat, UTC)
    # One round trip for both checks: this runs on every authenticated request.
    cut_off = exists().where(TokenCutoff.scope.in_(scopes), TokenCutoff.not_before > issued)
    revoked = exists().where(RevokedToken.jti == principal.jti) if principal.jti else false()
    db = await reads.connection()
    is_revoked, is_cut_off = (await db.execute(select(revoked, cut_off))).one()
    if is_revoked:
        raise Forbidden("token_revoked", "this token has been revoked")
    if is_cut_off:
        raise Forbidden("token_revoked", "this token was issued before a cut-off")
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
        return require(principal, allowed, tenant_id=tenant_id)

    return dependency


AdminCaller = Annotated[Principal, Depends(allow("admin"))]
ServiceCaller = Annotated[Principal, Depends(allow("service"))]
