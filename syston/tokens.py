"""Tokens: issuing and verifying the platform's HS256 JWTs (docs/tokens.md), and who may call what.

Three kinds of caller, told apart by the audience:

| kind      | `aud`          | roles                              | extra claims |
|-----------|----------------|------------------------------------|--------------|
| `admin`   | `syston-admin` | `["admin"]`                        | `jti`        |
| `service` | `internal`     | `["service"]`                      |              |
| `tenant`  | `syston-mobile`| ⊆ `["tenant_admin", "owner"]`      | `jti`, `tenant_id` |

`TokenService.verify()` authenticates a token (401s, plus the 403 for an `aud` that is a list or an
unknown audience); `principal_from_claims()` + `require()` authorise it for a route (403s).
Revocation by `jti` and cut-off by `iat` need the database, so they live in the API layer: the
`Principal` carries `jti`, `iat` and `tenant_id` for it.

Errors::

    AuthError (status, reason)
    ├── Unauthorized  401  missing_token · malformed_token · invalid_signature · token_expired
    │                      invalid_issuer · token_not_yet_valid
    └── Forbidden     403  invalid_audience · role_mismatch · tenant_mismatch · token_revoked
                           tenant_suspended

Decisions: a token whose header names any algorithm but HS256 (`none` in any case, HS384, RS256,
…) is `invalid_signature` — it is well-formed but not signed the only way we accept. Key-injection
headers (`jku`, `jwk`, `x5u`, `x5c`, `crit`, `b64`) are `malformed_token`. A `kid` is tolerated and
ignored: keys are only ever our configured secrets, tried in order (rotation).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal, get_args

import jwt

from syston.core.text import UNSTORABLE_MESSAGE, is_storable

ADMIN_AUDIENCE: Final = "syston-admin"
TENANT_AUDIENCE: Final = "syston-mobile"
SERVICE_AUDIENCE: Final = "internal"

TENANT_TTL_SECONDS: Final = 365 * 24 * 3600
ADMIN_TTL_SECONDS: Final = 3600
SERVICE_TTL_SECONDS: Final = 300
LEEWAY_SECONDS: Final = 30

ALGORITHM: Final = "HS256"
# Far above anything we issue; bounds the work an anonymous caller can make us do.
MAX_TOKEN_CHARS: Final = 8192
FORBIDDEN_HEADERS: Final = frozenset({"jku", "jwk", "x5u", "x5c", "crit", "b64"})
REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "iat", "exp")
TIME_CLAIMS: Final = ("iat", "nbf", "exp")
# iat, nbf and exp must lie in 1970-01-01 .. 9999-12-31T23:59:59Z: what a datetime (and so the
# cut-off comparison in the database) can hold. Outside it a token is malformed, not early/late.
LATEST_TIMESTAMP: Final = 253_402_300_799

TokenKind = Literal["admin", "service", "tenant"]
TENANT_ROLES: Final = ("tenant_admin", "owner")

UnauthorizedReason = Literal[
    "missing_token",
    "malformed_token",
    "invalid_signature",
    "token_expired",
    "invalid_issuer",
    "token_not_yet_valid",
]
ForbiddenReason = Literal[
    "invalid_audience", "role_mismatch", "tenant_mismatch", "token_revoked", "tenant_suspended"
]


@dataclass(frozen=True, slots=True)
class _Rule:
    audience: str
    roles: frozenset[str]  # the caller needs at least one of them
    needs_jti: bool


RULES: Final[Mapping[TokenKind, _Rule]] = {
    "admin": _Rule(ADMIN_AUDIENCE, frozenset({"admin"}), needs_jti=True),
    "service": _Rule(SERVICE_AUDIENCE, frozenset({"service"}), needs_jti=False),
    "tenant": _Rule(TENANT_AUDIENCE, frozenset(TENANT_ROLES), needs_jti=True),
}
_KIND_BY_AUDIENCE: Final[Mapping[str, TokenKind]] = {r.audience: k for k, r in RULES.items()}


class AuthError(Exception):
    """A request's credentials were refused; `status` is 401 or 403, `reason` the contract's."""

    status: ClassVar[int]

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        self.detail = detail or reason.replace("_", " ")
        super().__init__(f"{reason}: {self.detail}")


class Unauthorized(AuthError):
    """401: no usable token (missing, malformed, badly signed, expired, wrong issuer, early)."""

    status = 401

    def __init__(self, reason: UnauthorizedReason, detail: str | None = None) -> None:
        super().__init__(reason, detail)


class Forbidden(AuthError):
    """403: a valid token that this route does not accept."""

    status = 403

    def __init__(self, reason: ForbiddenReason, detail: str | None = None) -> None:
        super().__init__(reason, detail)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header value."""
    if authorization is None or not authorization.strip():
        raise Unauthorized("missing_token", "no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("malformed_token", "expected 'Authorization: Bearer <token>'")
    return token


class TokenService:
    """Signs with `secrets[0]`; verifies with any of them (JWT_SECRET, then JWT_SECRET_NEXT)."""

    def __init__(self, secrets: Sequence[bytes], issuer: str, leeway: int = LEEWAY_SECONDS) -> None:
        if not secrets or any(not s for s in secrets):
            raise ValueError("TokenService needs at least one non-empty secret")
        if not issuer:
            raise ValueError("TokenService needs an issuer")
        self._secrets = tuple(bytes(s) for s in secrets)
        self.issuer = issuer
        self.leeway = leeway

    # -- issuing -------------------------------------------------------------------------

    def issue(
        self,
        kind: TokenKind,
        tenant_id: str | None = None,
        *,
        sub: str | None = None,
        ttl: int | None = None,
    ) -> str:
        """A token of `kind` (what `syston token admin|service|tenant TENANT_ID` prints)."""
        if kind == "admin":
            return self.issue_admin(sub or "admin", ttl=ttl)
        if kind == "service":
            return self.issue_service(sub or "service", ttl=ttl)
        if kind == "tenant":
            if not tenant_id:
                raise ValueError("a tenant token needs a tenant id")
            return self.issue_tenant(tenant_id, sub or "cli", ttl=ttl)
        raise ValueError(f"unknown token kind {kind!r}; expected one of {get_args(TokenKind)}")

    def issue_tenant(
        self,
        tenant_id: str,
        user_id: str,
        roles: Sequence[str] = TENANT_ROLES,
        ttl: int | None = None,
    ) -> str:
        """A tenant (mobile app) token: `sub` = the user, claim `tenant_id`, 1-year default TTL."""
        if not tenant_id or not user_id:
            raise ValueError("a tenant token needs a tenant id and a user id")
        unknown = set(roles) - set(TENANT_ROLES)
        if not roles or unknown:
            raise ValueError(f"tenant roles must be a non-empty subset of {TENANT_ROLES}")
        return self._sign(
            TENANT_AUDIENCE, user_id, roles, ttl or TENANT_TTL_SECONDS, {"tenant_id": tenant_id}
        )

    def issue_admin(self, sub: str = "admin", ttl: int | None = None) -> str:
        """A platform-admin token (1 h default TTL)."""
        return self._sign(ADMIN_AUDIENCE, sub, ["admin"], ttl or ADMIN_TTL_SECONDS)

    def issue_service(self, sub: str = "service", ttl: int | None = None) -> str:
        """An internal service token (300 s default TTL)."""
        return self._sign(SERVICE_AUDIENCE, sub, ["service"], ttl or SERVICE_TTL_SECONDS)

    def _sign(
        self,
        audience: str,
        sub: str,
        roles: Sequence[str],
        ttl: int,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        if ttl <= 0:
            raise ValueError("ttl must be a positive number of seconds")
        if not sub:
            raise ValueError("sub must be a non-empty string")
        now = int(datetime.now(UTC).timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": sub,
            "iat": now,
            "exp": now + int(ttl),
            "roles": list(roles),
            "jti": uuid.uuid4().hex,
            **(extra or {}),
        }
        # PyJWT adds "typ": "JWT" itself; passing it keeps the header exactly {alg, typ}.
        return jwt.encode(claims, self._secrets[0], algorithm=ALGORITHM, headers={"typ": "JWT"})

    # -- verifying -----------------------------------------------------------------------

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or `Unauthorized` / `Forbidden` saying why not."""
        if not isinstance(token, str) or not token.strip():
            raise Unauthorized("missing_token")
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized("malformed_token", "token too long")
        _check_header(token)
        claims = self._decode(token)
        self._check_times(claims)
        self._check_claims(claims)
        return claims

    def authenticate(self, token: str) -> Principal:
        """`verify()` then `principal_from_claims()`."""
        return principal_from_claims(self.verify(token))

    def _decode(self, token: str) -> dict[str, Any]:
        for secret in self._secrets:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    secret,
                    algorithms=[ALGORITHM],
                    leeway=self.leeway,
                    # Audience and issuer are checked by us: PyJWT accepts a list `aud` and we
                    # want the exact, typed comparisons of `_check_claims`. So are the times:
                    # PyJWT takes any value int() accepts (1e300, "17e8", true), which then
                    # overflows a datetime; `_check_times` bounds them first.
                    options={
                        "require": list(REQUIRED_CLAIMS),
                        "verify_aud": False,
                        "verify_iss": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                        "verify_exp": False,
                    },
                )
                return claims
            except jwt.InvalidSignatureError:
                continue  # maybe signed with the other secret (rotation)
            except jwt.MissingRequiredClaimError as exc:
                raise Unauthorized("malformed_token", f"missing claim {exc.claim!r}") from None
            except jwt.InvalidAlgorithmError:
                raise Unauthorized("invalid_signature", "algorithm not accepted") from None
            except jwt.InvalidTokenError:
                raise Unauthorized("malformed_token") from None
        raise Unauthorized("invalid_signature")

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        """iat, nbf and exp: numbers of seconds in range, then the token's validity window
        (with the leeway) as PyJWT would check it."""
        for name in TIME_CLAIMS:
            if name in claims and not _is_timestamp(claims[name]):
                raise Unauthorized(
                    "malformed_token", f"claim {name!r} must be a time in seconds since 1970"
                )
        now = time.time()
        if claims["iat"] > now + self.leeway or claims.get("nbf", 0) > now + self.leeway:
            raise Unauthorized("token_not_yet_valid")
        if claims["exp"] <= now - self.leeway:
            raise Unauthorized("token_expired")

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise Unauthorized("malformed_token", "claim 'sub' must be a non-empty string")
        if claims["iss"] != self.issuer:  # exact: no prefixes, superstrings or lists
            raise Unauthorized("invalid_issuer")
        audience = claims["aud"]
        if not isinstance(audience, str):
            raise Forbidden("invalid_audience", "claim 'aud' must be a single string")
        kind = _KIND_BY_AUDIENCE.get(audience)
        if kind is None:
            raise Forbidden("invalid_audience", f"unknown audience {audience!r}")
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthorized("malformed_token", "claim 'roles' must be a list of strings")
        jti = claims.get("jti")
        if RULES[kind].needs_jti and (not isinstance(jti, str) or not jti):
            raise Unauthorized("malformed_token", "claim 'jti' is required on this token")
        if kind == "tenant" and (
            not isinstance(claims.get("tenant_id"), str) or not claims["tenant_id"]
        ):
            raise Unauthorized("malformed_token", "claim 'tenant_id' is required on this token")
        for name in ("sub", "jti", "tenant_id"):
            # looked up (revocation, cut-off) and recorded (audit actor) in the database
            value = claims.get(name)
            if isinstance(value, str) and not is_storable(value):
                raise Unauthorized("malformed_token", f"claim {name!r} {UNSTORABLE_MESSAGE}")


def _check_header(token: str) -> None:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Unauthorized("malformed_token") from None
    if not isinstance(header, dict):
        raise Unauthorized("malformed_token")
    if header.get("alg") != ALGORITHM:
        raise Unauthorized("invalid_signature", f"only {ALGORITHM} is accepted")
    refused = FORBIDDEN_HEADERS.intersection(header)
    if refused:
        raise Unauthorized("malformed_token", f"header {sorted(refused)[0]!r} is not accepted")


def _is_timestamp(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 <= value <= LATEST_TIMESTAMP


# -- authorisation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, from a verified token."""

    kind: TokenKind
    sub: str
    roles: frozenset[str]
    iat: int
    jti: str | None = None
    tenant_id: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The `Principal` of claims returned by `TokenService.verify()`."""
    audience = claims.get("aud")
    kind = _KIND_BY_AUDIENCE.get(audience) if isinstance(audience, str) else None
    if kind is None:
        raise Forbidden("invalid_audience")
    roles = claims.get("roles", [])
    jti = claims.get("jti")
    tenant_id = claims.get("tenant_id")
    return Principal(
        kind=kind,
        sub=str(claims["sub"]),
        roles=frozenset(r for r in roles if isinstance(r, str))
        if isinstance(roles, list)
        else (frozenset()),
        iat=int(claims["iat"]),
        jti=jti if isinstance(jti, str) else None,
        tenant_id=tenant_id if kind == "tenant" and isinstance(tenant_id, str) else None,
        claims=dict(claims),
    )


def require(
    principal: Principal, allow: Collection[TokenKind], *, tenant_id: str | None = None
) -> Principal:
    """Allow `principal` on a route open to the kinds in `allow`, or raise `Forbidden`.

    `tenant_id` is the tenant the route is about: a tenant token must belong to it (admins and
    services may act on any tenant).
    """
    if principal.kind not in allow:
        raise Forbidden("invalid_audience", f"{principal.kind} tokens are not accepted here")
    rule = RULES[principal.kind]
    if not rule.roles & principal.roles:
        raise Forbidden("role_mismatch", f"needs a role in {sorted(rule.roles)}")
    if principal.kind == "tenant" and tenant_id is not None and principal.tenant_id != tenant_id:
        raise Forbidden("tenant_mismatch")
    return principal


def authorize(
    claims: Mapping[str, Any], allow: Collection[TokenKind], *, tenant_id: str | None = None
) -> Principal:
    """`principal_from_claims()` then `require()`."""
    return require(principal_from_claims(claims), allow, tenant_id=tenant_id)
