"""Signup request and responses (`POST /public/signup/start`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field
from pydantic_core import PydanticCustomError

from api.schemas.requests import RequestModel
from syston.models import Plan, TenantStatus
from syston.signup import SignupData

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"


def _not_blank(value: str) -> str:
    if not value.strip():  # signup stores the name stripped: blank would store it empty
        raise PydanticCustomError("blank_string", "must not be blank")
    return value


class SignupRequest(RequestModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    # The pattern says "not blank" (and no NUL) to clients and fuzzers; `_not_blank` enforces
    # it with the same notion of blank as the stored (stripped) name.
    clubName: Annotated[str, AfterValidator(_not_blank)] = Field(
        min_length=1,
        max_length=100,
        json_schema_extra={"pattern": r"^[^\u0000]*[^\s\u0000][^\u0000]*$"},
    )
    clubSlug: str = Field(min_length=3, max_length=63, pattern=SLUG_PATTERN)
    email: EmailStr = Field(max_length=320)
    plan: Plan
    promoCode: str | None = Field(default=None, max_length=64)

    def to_signup(self) -> SignupData:
        return SignupData(
            club_name=self.clubName,
            club_slug=self.clubSlug,
            email=str(self.email),
            plan=self.plan,
            promo_code=self.promoCode,
        )


class SignupAccepted(BaseModel):
    tenantId: str
    status: TenantStatus
    plan: Plan
    jwt: str
    statusUrl: str


class SignupReplayed(BaseModel):
    tenantId: str
    status: TenantStatus
    plan: Plan
    statusUrl: str
    replayed: bool
