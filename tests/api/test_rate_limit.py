"""The per-IP signup rate limit: 429 RATE_LIMITED with Retry-After, shared by API replicas."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from syston.core.db import RateLimitWindow, Tenant
from syston.core.settings import Settings
from syston.rate_limit import SignupRateLimiter
from tests.support.database import count, engine_of
from tests.support.stack import Stack

SIGNUP = "/public/signup/start"
# 20 s into a minute: the window ends in 40 s
NOW = datetime(2030, 1, 1, 12, 0, 20, tzinfo=UTC)


@pytest.fixture
def stack(api_stack: Stack) -> Stack:
    """The API without a worker: these tests are about answers and stored rows."""
    return api_stack


@asynccontextmanager
async def replica(
    settings: Settings, client: Client, clock: Callable[[], datetime]
) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """One API process; `connect(ip)` gives an HTTP client calling it from that address."""
    app: FastAPI = create_app(settings, temporal_client=client)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        limiter = app.state.services.signup.limiter
        assert isinstance(limiter, SignupRateLimiter)
        limiter.clock = clock

        def connect(ip: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(ip, 40000))
            return httpx.AsyncClient(transport=transport, base_url="http://testserver")

        yield connect


def body(slug: str) -> dict[str, Any]:
    return {"clubName": slug, "clubSlug": slug, "email": f"{slug}@example.org", "plan": "starter"}


@pytest.fixture
def limited(stack: Stack) -> Settings:
    return stack.settings.model_copy(update={"signup_rate_limit": "3/minute"})


async def test_the_fourth_signup_in_a_minute_from_one_address_is_429(
    stack: Stack, limited: Settings
) -> None:
    async with replica(limited, stack.client, lambda: NOW) as connect:
        async with connect("198.51.100.1") as api:
            for i in range(3):
                assert (await api.post(SIGNUP, json=body(f"club-{i}"))).status_code == 202
            refused = await api.post(SIGNUP, json=body("club-3"))
            # replays count too: the limit is on requests, not on new tenants
            replay = await api.post(SIGNUP, json=body("club-0"))
        async with connect("198.51.100.2") as other:
            elsewhere = await other.post(SIGNUP, json=body("club-4"))

    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "RATE_LIMITED"
    assert refused.headers["retry-after"] == "40"
    assert replay.status_code == 429
    assert elsewhere.status_code == 202, elsewhere.text
    async with engine_of(stack) as engine:
        # the refused signup stored nothing
        assert await count(engine, Tenant, Tenant.slug == "club-3") == 0
        assert await count(engine, Tenant) == 4


async def test_the_limit_is_shared_by_replicas_and_resets_with_the_window(
    db_stack: Stack,
) -> None:
    stack = db_stack  # SQLite and PostgreSQL (each has its own upsert)
    limited = stack.settings.model_copy(update={"signup_rate_limit": "3/minute"})
    now = [NOW]
    async with (
        replica(limited, stack.client, lambda: now[0]) as first,
        replica(limited, stack.client, lambda: now[0]) as second,
    ):
        async with first("198.51.100.7") as a, second("198.51.100.7") as b:
            assert (await a.post(SIGNUP, json=body("rep-1"))).status_code == 202
            assert (await b.post(SIGNUP, json=body("rep-2"))).status_code == 202
            assert (await a.post(SIGNUP, json=body("rep-3"))).status_code == 202
            assert (await b.post(SIGNUP, json=body("rep-4"))).status_code == 429
            now[0] = NOW + timedelta(seconds=40)  # the next minute
            assert (await b.post(SIGNUP, json=body("rep-4"))).status_code == 202
    async with engine_of(stack) as engine:
        # the finished window was cleared when the next one began
        assert await count(engine, RateLimitWindow) == 1


async def test_zero_turns_the_limit_off(stack: Stack) -> None:
    assert stack.settings.signup_rate_limit == "0"
    for i in range(21):  # one over the default 20/minute
        response = await stack.api.post(SIGNUP, json=body(f"free-{i}"))
        assert response.status_code == 202, response.text
