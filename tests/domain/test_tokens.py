"""Tokens: what the API accepts and refuses, one attack per test (docs/tokens.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from syston.tokens import (
    ADMIN_AUDIENCE,
    ADMIN_TTL_SECONDS,
    SERVICE_AUDIENCE,
    SERVICE_TTL_SECONDS,
    TENANT_AUDIENCE,
    TENANT_TTL_SECONDS,
    AuthError,
    Forbidden,
    Principal,
    TokenService,
    Unauthorized,
    authorize,
    bearer_token,
    principal_from_claims,
    require,
)

SECRET = b"current-secret-0123456789abcdef0123456789"
NEXT_SECRET = b"next-secret-0123456789abcdef0123456789abcd"
OTHER_SECRET = b"someone-elses-secret-0123456789abcdef0123"
ISSUER = "syston.app"
TENANT = "tenant_AAAAAAAAAAAAAAAA"
OTHER_TENANT = "tenant_BBBBBBBBBBBBBBBB"


@pytest.fixture
def tokens() -> TokenService:
    return TokenService([SECRET, NEXT_SECRET], ISSUER)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid tenant-token claims, with `overrides` (a value of ... removes the claim)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": TENANT_AUDIENCE,
        "sub": "user_1",
        "iat": now,
        "exp": now + 600,
        "roles": ["tenant_admin", "owner"],
        "jti": "jti-1",
        "tenant_id": TENANT,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def forge(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A token with exactly this header and payload, signed over its first two parts by `sign`."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def hs(secret: bytes, digest: Any = hashlib.sha256) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, digest).digest()


def signed(payload: dict[str, Any], secret: bytes = SECRET, **header: Any) -> str:
    return forge({"alg": "HS256", "typ": "JWT", **header}, payload, hs(secret))


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def rs256(data: bytes) -> bytes:
    return RSA_KEY.sign(data, padding.PKCS1v15(), hashes.SHA256())


def tampered() -> str:
    header, _, sig = signed(claims()).split(".")
    evil = b64(json.dumps(claims(tenant_id=OTHER_TENANT)).encode())
    return f"{header}.{evil}.{sig}"


def now() -> int:
    return int(time.time())


# (token factory, expected reason); one row per attack.
REFUSED: list[Any] = [
    pytest.param(
        lambda: forge({"alg": "none"}, claims(), lambda _: b""),
        "invalid_signature",
        id="alg-none-unsigned",
    ),
    pytest.param(
        lambda: forge({"alg": "None"}, claims(), lambda _: b""),
        "invalid_signature",
        id="alg-None-unsigned",
    ),
    pytest.param(
        lambda: forge({"alg": "NONE"}, claims(), lambda _: b""),
        "invalid_signature",
        id="alg-NONE-unsigned",
    ),
    pytest.param(
        lambda: forge({"alg": "nOnE"}, claims(), lambda _: b""),
        "invalid_signature",
        id="alg-nOnE-unsigned",
    ),
    pytest.param(
        lambda: forge({"alg": "none", "typ": "JWT"}, claims(), hs(SECRET)),
        "invalid_signature",
        id="alg-none-with-valid-hmac-signature",
    ),
    pytest.param(
        lambda: forge({"alg": "NONE", "typ": "JWT"}, claims(), hs(SECRET)),
        "invalid_signature",
        id="alg-NONE-with-valid-hmac-signature",
    ),
    pytest.param(
        lambda: signed(claims()).rsplit(".", 1)[0] + ".",
        "invalid_signature",
        id="hs256-signature-stripped",
    ),
    pytest.param(
        lambda: forge({"alg": "HS384"}, claims(), hs(SECRET, hashlib.sha384)),
        "invalid_signature",
        id="hs384-with-our-secret",
    ),
    pytest.param(
        lambda: forge({"alg": "HS512"}, claims(), hs(SECRET, hashlib.sha512)),
        "invalid_signature",
        id="hs512-with-our-secret",
    ),
    pytest.param(
        lambda: forge({"alg": "hs256"}, claims(), hs(SECRET)),
        "invalid_signature",
        id="alg-lowercase-hs256",
    ),
    pytest.param(
        lambda: forge({"alg": "RS256", "typ": "JWT"}, claims(), rs256),
        "invalid_signature",
        id="rs256-real-rsa-signature",
    ),
    pytest.param(
        lambda: forge({"alg": "RS256", "typ": "JWT"}, claims(), hs(SECRET)),
        "invalid_signature",
        id="rs256-header-hmac-with-our-secret-confusion",
    ),
    pytest.param(
        lambda: forge({"alg": "HS256", "typ": "JWT"}, claims(), hs(RSA_PUBLIC_PEM)),
        "invalid_signature",
        id="hs256-keyed-with-an-rsa-public-key",
    ),
    pytest.param(
        lambda: forge({"typ": "JWT"}, claims(), hs(SECRET)), "invalid_signature", id="alg-missing"
    ),
    pytest.param(tampered, "invalid_signature", id="tampered-payload"),
    pytest.param(lambda: signed(claims(), OTHER_SECRET), "invalid_signature", id="wrong-secret"),
    pytest.param(
        lambda: signed(claims(exp=now() - 31 - 30)), "token_expired", id="expired-beyond-leeway"
    ),
    pytest.param(lambda: signed(claims(iat=now() + 120)), "token_not_yet_valid", id="future-iat"),
    pytest.param(lambda: signed(claims(nbf=now() + 120)), "token_not_yet_valid", id="future-nbf"),
    pytest.param(lambda: signed(claims(exp=...)), "malformed_token", id="missing-exp"),
    pytest.param(lambda: signed(claims(aud=...)), "malformed_token", id="missing-aud"),
    pytest.param(lambda: signed(claims(iss=...)), "malformed_token", id="missing-iss"),
    pytest.param(lambda: signed(claims(sub=...)), "malformed_token", id="missing-sub"),
    pytest.param(lambda: signed(claims(iat=...)), "malformed_token", id="missing-iat"),
    pytest.param(lambda: signed(claims(jti=...)), "malformed_token", id="tenant-token-missing-jti"),
    pytest.param(
        lambda: signed(claims(aud=ADMIN_AUDIENCE, roles=["admin"], jti=...)),
        "malformed_token",
        id="admin-token-missing-jti",
    ),
    pytest.param(
        lambda: signed(claims(tenant_id=...)),
        "malformed_token",
        id="tenant-token-missing-tenant_id",
    ),
    pytest.param(
        lambda: signed(claims(aud=[TENANT_AUDIENCE])),
        "invalid_audience",
        id="aud-list-with-the-right-audience",
    ),
    pytest.param(
        lambda: signed(claims(aud=[TENANT_AUDIENCE, ADMIN_AUDIENCE])),
        "invalid_audience",
        id="aud-list-of-two",
    ),
    pytest.param(lambda: signed(claims(aud="syston")), "invalid_audience", id="aud-unknown"),
    pytest.param(lambda: signed(claims(iss="syston.ap")), "invalid_issuer", id="iss-prefix"),
    pytest.param(
        lambda: signed(claims(iss="syston.app.evil")), "invalid_issuer", id="iss-superstring"
    ),
    pytest.param(lambda: signed(claims(iss="SYSTON.APP")), "invalid_issuer", id="iss-other-case"),
    pytest.param(lambda: signed(claims(iss=[ISSUER])), "invalid_issuer", id="iss-list"),
    pytest.param(lambda: signed(claims(roles="owner")), "malformed_token", id="roles-a-string"),
    pytest.param(lambda: signed(claims(roles=[1, 2])), "malformed_token", id="roles-not-strings"),
    pytest.param(
        lambda: signed(claims(roles={"owner": True})), "malformed_token", id="roles-an-object"
    ),
    pytest.param(lambda: signed(claims(exp="99999999999")), "malformed_token", id="exp-a-string"),
    pytest.param(lambda: signed(claims(sub=42)), "malformed_token", id="sub-not-a-string"),
    # Times a datetime (and the database) cannot hold: validly signed, still refused as malformed.
    *(
        pytest.param(
            lambda name=name, value=value: signed(claims(**{name: value})),
            "malformed_token",
            id=f"{name}-{label}",
        )
        for name in ("iat", "exp", "nbf")
        for label, value in [
            ("-1e15", -1e15),
            ("-1e300", -1e300),
            ("1e15", 1e15),
            ("1e300", 1e300),
            ("infinity", float("inf")),
            ("nan", float("nan")),
            ("a-numeric-string", "1700000000"),
            ("true", True),
            ("a-list", [1]),
            ("negative", -1),
        ]
    ),
    pytest.param(
        lambda: signed(claims(), jku="https://evil.example/jwks.json"),
        "malformed_token",
        id="header-jku",
    ),
    pytest.param(
        lambda: signed(claims(), x5u="https://evil.example/cert.pem"),
        "malformed_token",
        id="header-x5u",
    ),
    pytest.param(
        lambda: signed(claims(), jwk={"kty": "oct", "k": b64(OTHER_SECRET)}),
        "malformed_token",
        id="header-jwk",
    ),
    pytest.param(lambda: signed(claims(), crit=["exp"]), "malformed_token", id="header-crit"),
    pytest.param(lambda: signed(claims(), x5c=["MIIB"]), "malformed_token", id="header-x5c"),
    pytest.param(lambda: signed(claims(), kid=7), "malformed_token", id="kid-not-a-string"),
    pytest.param(lambda: "not-a-jwt", "malformed_token", id="garbage"),
    pytest.param(lambda: "a.b.c", "malformed_token", id="three-garbage-segments"),
    pytest.param(
        lambda: forge({"alg": "HS256"}, [1, 2], hs(SECRET)),  # type: ignore[arg-type]
        "malformed_token",
        id="payload-not-an-object",
    ),
    pytest.param(lambda: "x" * 9000, "malformed_token", id="oversized"),
    pytest.param(lambda: "", "missing_token", id="empty"),
]


@pytest.mark.parametrize(("make_token", "reason"), REFUSED)
def test_refused(tokens: TokenService, make_token: Callable[[], str], reason: str) -> None:
    with pytest.raises(AuthError) as caught:
        tokens.verify(make_token())
    assert caught.value.reason == reason
    expected_status = 403 if reason == "invalid_audience" else 401
    assert caught.value.status == expected_status
    assert isinstance(caught.value, Forbidden if expected_status == 403 else Unauthorized)


ACCEPTED: list[Any] = [
    pytest.param(lambda: signed(claims(exp=now() - 10)), id="expired-within-leeway"),
    pytest.param(lambda: signed(claims(iat=now() + 10, nbf=now() + 10)), id="early-within-leeway"),
    pytest.param(lambda: signed(claims(), NEXT_SECRET), id="signed-with-jwt-secret-next"),
    pytest.param(lambda: signed(claims(), kid="../../etc/passwd"), id="kid-path-traversal"),
    pytest.param(lambda: signed(claims(), kid="' OR 1=1; --"), id="kid-sql-injection"),
    pytest.param(lambda: signed(claims(), kid="/dev/null"), id="kid-dev-null"),
    pytest.param(lambda: signed(claims(), kid="next"), id="kid-naming-a-secret"),
    pytest.param(
        lambda: signed(claims(aud=SERVICE_AUDIENCE, roles=["service"], jti=...)),
        id="service-token-without-jti",
    ),
]


@pytest.mark.parametrize("make_token", ACCEPTED)
def test_accepted(tokens: TokenService, make_token: Callable[[], str]) -> None:
    assert tokens.verify(make_token())["sub"] == "user_1"


@pytest.mark.parametrize("kid", ["../../etc/passwd", "' OR 1=1; --", "/dev/null", "next"])
def test_hostile_kid_never_selects_a_key(tokens: TokenService, kid: str) -> None:
    # Whatever the kid says, only our secrets verify: the same forgery is refused with or without.
    with pytest.raises(Unauthorized) as caught:
        tokens.verify(signed(claims(), b"", kid=kid))
    assert caught.value.reason == "invalid_signature"


def test_retired_secret_is_refused() -> None:
    old = TokenService([SECRET], ISSUER).issue_admin()
    rotated = TokenService([NEXT_SECRET], ISSUER)
    with pytest.raises(Unauthorized) as caught:
        rotated.verify(old)
    assert caught.value.reason == "invalid_signature"


def test_issues_with_the_first_secret_only() -> None:
    token = TokenService([NEXT_SECRET, SECRET], ISSUER).issue_service()
    assert TokenService([NEXT_SECRET], ISSUER).verify(token)["aud"] == SERVICE_AUDIENCE
    with pytest.raises(Unauthorized):
        TokenService([SECRET], ISSUER).verify(token)


@pytest.mark.parametrize("secrets", [[], [b""]], ids=["no-secret", "empty-secret"])
def test_refuses_missing_secrets(secrets: list[bytes]) -> None:
    with pytest.raises(ValueError):
        TokenService(secrets, ISSUER)


# -- issuing -----------------------------------------------------------------------------


def test_tenant_token_round_trip(tokens: TokenService) -> None:
    token = tokens.issue_tenant(TENANT, "user_1")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    got = tokens.verify(token)
    assert got["aud"] == TENANT_AUDIENCE and got["iss"] == ISSUER and got["sub"] == "user_1"
    assert got["tenant_id"] == TENANT and got["roles"] == ["tenant_admin", "owner"]
    assert got["exp"] - got["iat"] == TENANT_TTL_SECONDS
    assert isinstance(got["jti"], str) and len(got["jti"]) == 32


def test_admin_token_round_trip(tokens: TokenService) -> None:
    got = tokens.verify(tokens.issue_admin())
    assert (got["aud"], got["sub"], got["roles"]) == (ADMIN_AUDIENCE, "admin", ["admin"])
    assert got["exp"] - got["iat"] == ADMIN_TTL_SECONDS and got["jti"]
    assert "tenant_id" not in got


def test_service_token_round_trip(tokens: TokenService) -> None:
    got = tokens.verify(tokens.issue_service())
    assert (got["aud"], got["sub"], got["roles"]) == (SERVICE_AUDIENCE, "service", ["service"])
    assert got["exp"] - got["iat"] == SERVICE_TTL_SECONDS


def test_generic_issue_as_the_cli_uses_it(tokens: TokenService) -> None:
    assert tokens.verify(tokens.issue("admin", ttl=60))["exp"] - now() <= 61 + 5
    assert tokens.verify(tokens.issue("service"))["aud"] == SERVICE_AUDIENCE
    tenant = tokens.verify(tokens.issue("tenant", TENANT))
    assert tenant["tenant_id"] == TENANT
    with pytest.raises(ValueError):
        tokens.issue("tenant")


def test_jti_is_unique(tokens: TokenService) -> None:
    assert tokens.verify(tokens.issue_admin())["jti"] != tokens.verify(tokens.issue_admin())["jti"]


@pytest.mark.parametrize(
    "kwargs", [{"roles": ["admin"]}, {"roles": []}, {"ttl": -1}], ids=["admin-role", "none", "ttl"]
)
def test_issue_tenant_refuses_bad_arguments(tokens: TokenService, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        tokens.issue_tenant(TENANT, "user_1", **kwargs)


# -- authorisation -----------------------------------------------------------------------


def principal(tokens: TokenService, token: str) -> Principal:
    return principal_from_claims(tokens.verify(token))


def denied(call: Callable[[], object]) -> str:
    with pytest.raises(Forbidden) as caught:
        call()
    assert caught.value.status == 403
    return caught.value.reason


def test_tenant_token_on_admin_route(tokens: TokenService) -> None:
    who = principal(tokens, tokens.issue_tenant(TENANT, "user_1"))
    assert denied(lambda: require(who, {"admin"})) == "invalid_audience"


def test_service_token_on_admin_route(tokens: TokenService) -> None:
    who = principal(tokens, tokens.issue_service())
    assert denied(lambda: require(who, {"admin"})) == "invalid_audience"


def test_admin_token_on_service_route(tokens: TokenService) -> None:
    who = principal(tokens, tokens.issue_admin())
    assert denied(lambda: require(who, {"service"})) == "invalid_audience"


def test_admin_audience_without_admin_role(tokens: TokenService) -> None:
    who = principal(tokens, signed(claims(aud=ADMIN_AUDIENCE, roles=["owner"], tenant_id=...)))
    assert denied(lambda: require(who, {"admin"})) == "role_mismatch"


def test_service_audience_without_service_role(tokens: TokenService) -> None:
    who = principal(tokens, signed(claims(aud=SERVICE_AUDIENCE, roles=["admin"])))
    assert denied(lambda: require(who, {"admin", "service"})) == "role_mismatch"


def test_tenant_token_without_tenant_roles(tokens: TokenService) -> None:
    who = principal(tokens, signed(claims(roles=["viewer"])))
    assert denied(lambda: require(who, {"tenant"}, tenant_id=TENANT)) == "role_mismatch"


def test_tenant_token_on_another_tenant(tokens: TokenService) -> None:
    who = principal(tokens, tokens.issue_tenant(TENANT, "user_1"))
    assert denied(lambda: require(who, {"tenant"}, tenant_id=OTHER_TENANT)) == "tenant_mismatch"


def test_unknown_audience_claims(tokens: TokenService) -> None:
    assert denied(lambda: authorize(claims(aud="elsewhere"), {"admin"})) == "invalid_audience"


@pytest.mark.parametrize("roles", [["owner"], ["tenant_admin"], ["tenant_admin", "owner"]])
def test_tenant_token_on_its_own_tenant(tokens: TokenService, roles: list[str]) -> None:
    who = principal(tokens, tokens.issue_tenant(TENANT, "user_1", roles=roles))
    allowed = require(who, {"admin", "service", "tenant"}, tenant_id=TENANT)
    assert (allowed.kind, allowed.tenant_id, allowed.sub) == ("tenant", TENANT, "user_1")
    assert allowed.jti and allowed.iat <= int(time.time())


def test_admin_and_service_may_act_on_any_tenant(tokens: TokenService) -> None:
    for token in (tokens.issue_admin(), tokens.issue_service()):
        who = principal(tokens, token)
        assert require(who, {"admin", "service", "tenant"}, tenant_id=OTHER_TENANT) is who
        assert who.tenant_id is None


def test_authenticate_gives_the_principal(tokens: TokenService) -> None:
    who = tokens.authenticate(tokens.issue_admin(sub="ops@syston"))
    assert (who.kind, who.sub, who.roles) == ("admin", "ops@syston", frozenset({"admin"}))


# -- the Authorization header ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("Basic dXNlcjpwYXNz", "malformed_token"),
        ("Bearer", "malformed_token"),
        ("Bearer   ", "malformed_token"),
    ],
)
def test_bearer_header_refused(header: str | None, reason: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        bearer_token(header)
    assert caught.value.reason == reason


def test_bearer_header_accepted() -> None:
    assert bearer_token("bearer  abc.def.ghi ") == "abc.def.ghi"
