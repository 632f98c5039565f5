"""MakeClient over httpx against the Make stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from integrations.errors import (
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from integrations.make import MakeClient, idempotency_key
from tests.support.emulator_server import RunningEmulator

EVENT = {
    "event": "tenant.registered",
    "tenantId": "tenant_a",
    "slug": "alpha",
    "clubName": "Alpha FC",
    "plan": "pro",
    "spreadsheetId": None,
}


@pytest.fixture
async def make(emulator: RunningEmulator) -> AsyncIterator[MakeClient]:
    async with httpx.AsyncClient() as http:
        yield MakeClient(http, timeout=5)


def test_idempotency_key_is_stable_per_tenant_and_event() -> None:
    key = idempotency_key("tenant_a", "tenant.registered")
    assert key == idempotency_key("tenant_a", "tenant.registered")
    assert key.startswith("syston-")
    assert key != idempotency_key("tenant_b", "tenant.registered")
    assert key != idempotency_key("tenant_a", "tenant.test")


async def test_delivery_is_kept_with_headers_and_idempotency_key(
    emulator: RunningEmulator, make: MakeClient
) -> None:
    key = idempotency_key("tenant_a", "tenant.registered")
    status = await make.deliver(emulator.hook_url("hook1"), EVENT, key)
    assert status == 200
    (delivery,) = emulator.snapshot()["deliveries"]
    assert delivery["hookId"] == "hook1"
    assert delivery["body"] == EVENT
    assert delivery["headers"]["idempotency-key"] == key
    assert delivery["headers"]["content-type"] == "application/json"
    assert delivery["headers"]["user-agent"] == "syston-provisioning"


async def test_a_redirect_is_not_followed(emulator: RunningEmulator, make: MakeClient) -> None:
    emulator.add_fault(target="make", mode="error", status=302, count=1)
    with pytest.raises(UpstreamRejected) as caught:
        await make.deliver(emulator.hook_url("hook1"), EVENT, "k")
    assert caught.value.status == 302
    assert caught.value.retryable is False
    state = emulator.snapshot()
    assert state["deliveries"] == []  # the redirect target was never called
    assert state["requests"]["make.deliver"] == 1


async def test_a_redirect_is_not_followed_even_by_a_following_client(
    emulator: RunningEmulator, make: MakeClient
) -> None:
    emulator.add_fault(target="make", mode="error", status=307, count=1)
    async with httpx.AsyncClient(follow_redirects=True) as following:
        with pytest.raises(UpstreamRejected):
            await make.deliver(emulator.hook_url("hook1"), EVENT, "k", client=following)
    assert emulator.snapshot()["deliveries"] == []


async def test_client_override_is_used(emulator: RunningEmulator, make: MakeClient) -> None:
    async with httpx.AsyncClient(headers={"X-Via": "pinned-client"}) as pinned:
        await make.deliver(emulator.hook_url("hook1"), EVENT, "k", client=pinned)
    (delivery,) = emulator.snapshot()["deliveries"]
    assert delivery["headers"]["x-via"] == "pinned-client"


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (503, UpstreamUnavailable, True),
        (429, UpstreamRateLimited, True),
        (404, UpstreamNotFound, False),
        (400, UpstreamRejected, False),
        (410, UpstreamRejected, False),
    ],
)
async def test_statuses_are_classified(
    emulator: RunningEmulator,
    make: MakeClient,
    status: int,
    error: type[Exception],
    retryable: bool,
) -> None:
    emulator.add_fault(target="make", mode="error", status=status, count=1, retryAfter=2)
    with pytest.raises(error) as caught:
        await make.deliver(emulator.hook_url("hook1"), EVENT, "k")
    assert getattr(caught.value, "retryable", None) is retryable
    assert emulator.snapshot()["deliveries"] == []


async def test_hang_is_a_timeout(emulator: RunningEmulator) -> None:
    emulator.add_fault(target="make", mode="hang", count=1)
    async with httpx.AsyncClient() as http:
        with pytest.raises(UpstreamTimeout):
            await MakeClient(http, timeout=0.5).deliver(emulator.hook_url("h"), EVENT, "k")


async def test_unreachable_hook_is_unavailable(make: MakeClient) -> None:
    with pytest.raises(UpstreamUnavailable):
        await make.deliver("http://127.0.0.1:9/make/hooks/x", EVENT, "k")
