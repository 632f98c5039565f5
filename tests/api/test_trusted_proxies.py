"""FORWARDED_ALLOW_IPS: whose X-Forwarded-For names the client (and so its rate-limit bucket).

The app is wrapped exactly as `syston api` has uvicorn wrap it (`uvicorn.Config(...).load()`
with `api.app.proxy_options`), and called from a chosen socket peer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from temporalio.client import Client

from api.app import create_app, proxy_options
from syston.core.settings import Settings
from syston.rate_limit import SignupRateLimiter
from tests.support.stack import Stack

SIGNUP = "/public/signup/start"
NOW = datetime(2030, 1, 1, 12, 0, 20, tzinfo=UTC)
PROXY = "192.0.2.10"  # inside the trusted 192.0.2.0/24
STRANGER = "198.51.100.9"


@asynccontextmanager
async def served(
    settings: Settings, client: Client
) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """The API behind uvicorn's own middleware stack; `connect(peer)` calls it from `peer`."""
    app = create_app(settings, temporal_client=client)
    config = uvicorn.Config(app, log_config=None, **proxy_options(settings))
    config.load()
    async with app.router.lifespan_context(app):
        limiter = app.state.services.signup.limiter
        assert isinstance(limiter, SignupRateLimiter)
        limiter.clock = lambda: NOW  # one window for the whole test

        def connect(peer: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=config.loaded_app, client=(peer, 40000))
            return httpx.AsyncClient(transport=transport, base_url="http://testserver")

        yield connect


def limited(stack: Stack, forwarded_allow_ips: str) -> Settings:
    update = {"signup_rate_limit": "1/minute", "forwarded_allow_ips": forwarded_allow_ips}
    return stack.settings.model_copy(update=update)


async def signup(api: httpx.AsyncClient, slug: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    body = {"clubName": slug, "clubSlug": slug, "email": f"{slug}@example.org", "plan": "starter"}
    response = await api.post(SIGNUP, json=body, headers=headers)
    assert response.status_code in (202, 429), response.text
    return response.status_code


async def test_by_default_no_proxy_is_trusted_not_even_loopback(
    api_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uvicorn alone would read this variable, and trusts 127.0.0.1 when it is unset.
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    settings = limited(api_stack, "")
    assert proxy_options(settings)["proxy_headers"] is False
    async with served(settings, api_stack.client) as connect:
        async with connect("127.0.0.1") as api:
            first = await signup(api, "spoof-a", forwarded_for="203.0.113.1")
            spoofed = await signup(api, "spoof-b", forwarded_for="203.0.113.2")
    assert (first, spoofed) == (202, 429)  # a new header is not a new bucket


async def test_a_trusted_proxy_names_the_client(api_stack: Stack) -> None:
    settings = limited(api_stack, "192.0.2.0/24, 2001:db8::1")
    async with served(settings, api_stack.client) as connect:
        async with connect(PROXY) as proxy:
            one = await signup(proxy, "via-a", forwarded_for="203.0.113.1")
            other = await signup(proxy, "via-b", forwarded_for="203.0.113.2")
            again = await signup(proxy, "via-c", forwarded_for="203.0.113.1")
            # A client's own X-Forwarded-For is kept in front of what the proxy appends: the
            # right-most untrusted entry is the client, so it cannot pick another bucket.
            chained = await signup(proxy, "via-d", forwarded_for="203.0.113.50, 203.0.113.2")
    assert (one, other, again, chained) == (202, 202, 429, 429)


async def test_an_untrusted_peer_cannot_spoof_its_way_out_of_the_limit(api_stack: Stack) -> None:
    settings = limited(api_stack, "192.0.2.0/24")
    async with served(settings, api_stack.client) as connect:
        async with connect(STRANGER) as stranger:
            first = await signup(stranger, "odd-a", forwarded_for="203.0.113.7")
            spoofed = await signup(stranger, "odd-b", forwarded_for="203.0.113.8")
            bare = await signup(stranger, "odd-c")
        async with connect(PROXY) as proxy:
            # the stranger's address arriving through the proxy shares the stranger's bucket
            relayed = await signup(proxy, "odd-d", forwarded_for=STRANGER)
            fresh = await signup(proxy, "odd-e", forwarded_for="203.0.113.7")
    assert (first, spoofed, bare) == (202, 429, 429)
    assert relayed == 429
    assert fresh == 202  # 203.0.113.7 never really signed up: the stranger did


def test_forwarded_allow_ips_accepts_addresses_and_networks_only() -> None:
    ok = Settings(_env_file=None, forwarded_allow_ips=" 10.0.0.5 ,10.1.0.0/16,::1 ")  # type: ignore[call-arg]
    assert ok.trusted_proxies == ["10.0.0.5", "10.1.0.0/16", "::1"]
    assert Settings(_env_file=None, forwarded_allow_ips="*").trusted_proxies == ["*"]  # type: ignore[call-arg]
    assert Settings(_env_file=None).trusted_proxies == []  # type: ignore[call-arg]
    for bad in ("proxy.internal", "10.0.0.5/8", "10.0.0.0/33"):
        with pytest.raises(ValueError, match="not an IP address or CIDR"):
            Settings(_env_file=None, forwarded_allow_ips=bad)  # type: ignore[call-arg]
