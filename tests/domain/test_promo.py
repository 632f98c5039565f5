"""Promo codes (syston/promo.py): admins create them, signups redeem them within their limits —
redemption cap, expiry, plan — and the list shows how often each was used."""

from __future__ import annotations

from datetime import timedelta

import pytest

from syston.core.db import utcnow
from syston.core.errors import Conflict, Unprocessable
from syston.promo import PromoCodes
from syston.signup import SignupService
from tests.support.domain import Sessions, audit_trail, club, signed_up


@pytest.fixture
def promos(sessions: Sessions) -> PromoCodes:
    return PromoCodes(sessions)


async def create(promos: PromoCodes, code: str, **limits: object) -> None:
    values: dict[str, object] = {"plan": None, "max_redemptions": None, "expires_at": None}
    values.update(limits)
    await promos.create(code, actor="admin-1", **values)  # type: ignore[arg-type]


async def redemptions(promos: PromoCodes) -> dict[str, int]:
    return {p.code: p.redemptions for p in await promos.list()}


async def test_a_code_is_stored_in_capitals_and_its_creation_audited(
    promos: PromoCodes, sessions: Sessions
) -> None:
    created = await promos.create(
        " Summer-10 ", plan="pro", max_redemptions=5, expires_at=None, actor="admin-1"
    )

    assert (created.code, created.plan, created.max_redemptions) == ("SUMMER-10", "pro", 5)
    assert created.redemptions == 0
    assert [(p.code, p.redemptions) for p in await promos.list()] == [("SUMMER-10", 0)]
    ((actor, action, _, detail),) = await audit_trail(sessions)
    assert (actor, action, detail["code"], detail["maxRedemptions"]) == (
        "admin-1",
        "promo_created",
        "SUMMER-10",
        5,
    )


async def test_a_code_that_exists_in_any_case_is_refused(promos: PromoCodes) -> None:
    await create(promos, "WELCOME")

    with pytest.raises(Conflict) as exists:
        await create(promos, "welcome", plan="starter")

    assert exists.value.code == "PROMO_EXISTS"
    assert [p.plan for p in await promos.list()] == [None]


async def test_the_list_is_newest_first(promos: PromoCodes) -> None:
    for code in ("FIRST", "SECOND", "THIRD"):
        await create(promos, code)

    assert [p.code for p in await promos.list()] == ["THIRD", "SECOND", "FIRST"]


async def test_signups_redeem_a_code_until_its_cap(
    promos: PromoCodes, signups: SignupService
) -> None:
    await create(promos, "TWICE", max_redemptions=2)

    await signed_up(signups, "one-fc", promo_code="twice")
    await signed_up(signups, "two-fc", promo_code=" Twice ")
    with pytest.raises(Unprocessable) as spent:
        await signups.signup(club("three-fc", promo_code="TWICE"), None)

    assert spent.value.code == "INVALID_PROMO"
    assert spent.value.extra["errors"] == [{"field": "promoCode", "message": "invalid promo code"}]
    assert await redemptions(promos) == {"TWICE": 2}
    # the refused club was not created: it may sign up without the code
    await signed_up(signups, "three-fc")


async def test_an_expired_code_can_be_created_but_never_redeemed(
    promos: PromoCodes, signups: SignupService
) -> None:
    await create(promos, "OLD", expires_at=utcnow() - timedelta(days=1))
    await create(promos, "CURRENT", expires_at=utcnow() + timedelta(days=1))

    with pytest.raises(Unprocessable):
        await signups.signup(club("late-fc", promo_code="old"), None)
    await signed_up(signups, "on-time-fc", promo_code="current")

    assert await redemptions(promos) == {"OLD": 0, "CURRENT": 1}


async def test_a_code_for_one_plan_is_refused_for_the_other(
    promos: PromoCodes, signups: SignupService
) -> None:
    await create(promos, "PROONLY", plan="pro")

    with pytest.raises(Unprocessable):
        await signups.signup(club("small-fc", "starter", promo_code="proonly"), None)
    await signed_up(signups, "big-fc", "pro", promo_code="proonly")

    assert await redemptions(promos) == {"PROONLY": 1}


async def test_an_unknown_code_is_refused(signups: SignupService) -> None:
    with pytest.raises(Unprocessable) as unknown:
        await signups.signup(club("guess-fc", promo_code="FREE-FOREVER"), None)

    assert unknown.value.code == "INVALID_PROMO"
