"""Revocation by `jti` and cut-offs by issue time (syston/revocation.py), as admins use them:
idempotent, audited, one cut-off per scope, never in the future. (That the API then refuses
such tokens is tested end to end in tests/api/test_auth_admin.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from syston.core.db import RevokedToken, TokenCutoff, utcnow
from syston.core.errors import TenantNotFoundError, ValidationFailed
from syston.revocation import GLOBAL_SCOPE, MAX_CUTOFF_AHEAD, Revocations
from syston.signup import SignupService
from tests.support.domain import Sessions, audit_trail, signed_up


@pytest.fixture
def revocations(sessions: Sessions) -> Revocations:
    return Revocations(sessions)


async def revoked_jtis(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(RevokedToken.jti).order_by(RevokedToken.jti)))


async def cutoffs(sessions: Sessions) -> dict[str, object]:
    async with sessions() as session:
        rows = await session.scalars(select(TokenCutoff))
        return {row.scope: row.not_before for row in rows}


async def test_a_revoked_token_stays_revoked_from_the_first_time(
    revocations: Revocations, sessions: Sessions
) -> None:
    first = await revocations.revoke("jti-1", actor="admin-1")
    again = await revocations.revoke("jti-1", actor="admin-2")

    assert first.revoked and again.revoked
    assert again.revoked_at == first.revoked_at
    assert await revoked_jtis(sessions) == ["jti-1"]
    assert [(actor, action) for actor, action, _, _ in await audit_trail(sessions)] == [
        ("admin-1", "token_revoked")
    ]


async def test_unrevoking_accepts_the_token_again_and_is_a_no_op_otherwise(
    revocations: Revocations, sessions: Sessions
) -> None:
    await revocations.revoke("jti-1", actor="admin-1")
    await revocations.revoke("jti-2", actor="admin-1")

    restored = await revocations.unrevoke("jti-1", actor="admin-1")
    unknown = await revocations.unrevoke("jti-never", actor="admin-1")

    assert not restored.revoked and not unknown.revoked
    assert await revoked_jtis(sessions) == ["jti-2"]
    actions = [action for _, action, _, _ in await audit_trail(sessions)]
    assert actions == ["token_revoked", "token_revoked", "token_unrevoked"]


async def test_a_cut_off_is_one_per_scope_and_setting_it_again_moves_it(
    revocations: Revocations, signups: SignupService, sessions: Sessions
) -> None:
    tenant_id = await signed_up(signups, "cutoff-fc")
    earlier, later = utcnow() - timedelta(hours=2), utcnow() - timedelta(hours=1)

    everyone = await revocations.cutoff(earlier, None, actor="admin-1")
    await revocations.cutoff(later, None, actor="admin-1")
    one_tenant = await revocations.cutoff(earlier, tenant_id, actor="admin-1")

    assert everyone.scope == GLOBAL_SCOPE and one_tenant.scope == tenant_id
    assert await cutoffs(sessions) == {GLOBAL_SCOPE: later, tenant_id: earlier}
    trail = await audit_trail(sessions)
    assert [action for _, action, _, _ in trail] == ["token_cutoff"] * 3
    assert trail[-1][2] == tenant_id


async def test_a_cut_off_in_the_future_is_refused(
    revocations: Revocations, sessions: Sessions
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await revocations.cutoff(utcnow() + MAX_CUTOFF_AHEAD * 2, None, actor="admin-1")

    assert refused.value.extra["errors"][0]["field"] == "notBefore"
    assert await cutoffs(sessions) == {}
    # a little ahead (clock skew between admin and server) is fine
    await revocations.cutoff(utcnow() + MAX_CUTOFF_AHEAD / 2, None, actor="admin-1")


async def test_a_cut_off_for_an_unknown_tenant_is_not_found(
    revocations: Revocations, sessions: Sessions
) -> None:
    with pytest.raises(TenantNotFoundError):
        await revocations.cutoff(utcnow(), "tenant_nobody", actor="admin-1")

    assert await cutoffs(sessions) == {}
    assert await audit_trail(sessions) == []
