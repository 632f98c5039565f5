"""Idempotency-Key records (syston/idempotency.py): the first request claims the key, a retry
gets the stored answer byte for byte, another payload under the same key is refused, a retry
while the first is still running is told to wait, and a failed request frees the key."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from syston.core.db import IdempotencyRecord, utcnow
from syston.core.errors import Conflict, Unprocessable
from syston.idempotency import IN_PROGRESS_STALE, IdempotencyKeys, SignupOutcome
from syston.signup import SignupService
from tests.support.domain import Sessions, TemporalStandIn, club

KEY, PAYLOAD, OTHER_PAYLOAD = "k" * 64, "p" * 64, "q" * 64
ACCEPTED = SignupOutcome(
    202, {"tenantId": "tenant_1", "status": "processing"}, tenant_id="tenant_1"
)


@pytest.fixture
def keys(sessions: Sessions) -> IdempotencyKeys:
    return IdempotencyKeys(sessions)


async def backdate(sessions: Sessions, **values: object) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(IdempotencyRecord).where(IdempotencyRecord.key_hash == KEY).values(**values)
        )


async def test_a_completed_key_answers_its_retry_with_the_stored_response(
    keys: IdempotencyKeys,
) -> None:
    assert await keys.claim(KEY, PAYLOAD) is None
    await keys.complete(KEY, ACCEPTED)

    replay = await keys.claim(KEY, PAYLOAD)

    assert replay is not None
    assert replay.status_code == 202
    assert replay.content == ACCEPTED.content
    assert json.loads(replay.content) == {"tenantId": "tenant_1", "status": "processing"}
    assert replay.replayed_by_key and replay.tenant_id == "tenant_1"


async def test_the_same_key_with_another_payload_is_refused(keys: IdempotencyKeys) -> None:
    await keys.claim(KEY, PAYLOAD)
    await keys.complete(KEY, ACCEPTED)

    with pytest.raises(Unprocessable) as refused:
        await keys.claim(KEY, OTHER_PAYLOAD)

    assert refused.value.code == "IDEMPOTENCY_KEY_REUSED"


async def test_a_retry_while_the_first_request_runs_is_told_to_retry_shortly(
    keys: IdempotencyKeys,
) -> None:
    await keys.claim(KEY, PAYLOAD)

    with pytest.raises(Conflict) as busy:
        await keys.claim(KEY, PAYLOAD)

    assert busy.value.code == "IDEMPOTENCY_IN_PROGRESS"
    assert busy.value.headers["Retry-After"] == "1"


async def test_a_released_key_may_be_used_again_even_with_another_payload(
    keys: IdempotencyKeys,
) -> None:
    await keys.claim(KEY, PAYLOAD)
    await keys.release(KEY)

    assert await keys.claim(KEY, OTHER_PAYLOAD) is None


async def test_release_never_forgets_a_completed_answer(keys: IdempotencyKeys) -> None:
    await keys.claim(KEY, PAYLOAD)
    await keys.complete(KEY, ACCEPTED)
    await keys.release(KEY)

    replay = await keys.claim(KEY, PAYLOAD)
    assert replay is not None and replay.content == ACCEPTED.content


async def test_a_claim_abandoned_by_a_dead_process_is_taken_over(
    keys: IdempotencyKeys, sessions: Sessions
) -> None:
    await keys.claim(KEY, PAYLOAD)
    await backdate(sessions, created_at=utcnow() - IN_PROGRESS_STALE - timedelta(seconds=1))

    assert await keys.claim(KEY, PAYLOAD) is None


async def test_an_expired_record_is_forgotten(keys: IdempotencyKeys, sessions: Sessions) -> None:
    await keys.claim(KEY, PAYLOAD)
    await keys.complete(KEY, ACCEPTED)
    await backdate(sessions, expires_at=utcnow() - timedelta(seconds=1))

    assert await keys.claim(KEY, OTHER_PAYLOAD) is None


async def test_a_refused_signup_frees_its_key_for_the_corrected_request(
    signups: SignupService, temporal: TemporalStandIn
) -> None:
    await signups.signup(club("first-fc"), None)
    with pytest.raises(Conflict):
        await signups.signup(club("first-fc", email="second@example.org"), "key-2")

    corrected = await signups.signup(club("second-fc", email="second@example.org"), "key-2")
    replay = await signups.signup(club("second-fc", email="second@example.org"), "key-2")

    assert corrected.status_code == 202
    assert replay.replayed_by_key and replay.content == corrected.content
    assert [plan for _, plan in temporal.started] == ["pro", "pro"]
