"""Webhook URL policy: the SSRF matrix, the order of checks, and the address-pinning client."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from syston.webhook_policy import (
    InvalidWebhookUrl,
    ParsedWebhookUrl,
    SafeWebhookTransport,
    WebhookUrlRejected,
    build_safe_client,
    check_webhook_url,
    check_webhook_url_syntax,
    host_allowed,
)

ALLOWED = ["*.make.com"]
PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1::1"

DNS: dict[str, list[str]] = {
    "hook.eu1.make.com": [PUBLIC_V4],
    "hook.us1.make.com": [PUBLIC_V6],
    "hook.us2.make.com": [PUBLIC_V4, PUBLIC_V6],
    "internal.make.com": ["10.0.0.5"],
    "loopback.make.com": ["127.0.0.1"],
    "metadata.make.com": ["169.254.169.254"],
    "cgnat.make.com": ["100.64.0.1"],
    "zero.make.com": ["0.0.0.0"],
    "multicast.make.com": ["224.0.0.1"],
    "mapped.make.com": ["::ffff:10.0.0.1"],
    "loopback6.make.com": ["::1"],
    "ula.make.com": ["fc00::1"],
    "linklocal6.make.com": ["fe80::1%eth0"],
    "sixtofour.make.com": ["2002:7f00:1::"],
    "nat64.make.com": ["64:ff9b::7f00:1"],
    "mixed.make.com": [PUBLIC_V4, "10.0.0.1"],
    "garbage.make.com": ["not-an-address"],
    "empty.make.com": [],
}


@dataclass
class FakeDns:
    """A resolver answering from a table; unknown names fail like getaddrinfo does."""

    table: dict[str, list[str]] = field(default_factory=lambda: dict(DNS))
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


async def reason_for(url: str, allowed: list[str] = ALLOWED) -> str:
    with pytest.raises(WebhookUrlRejected) as caught:
        await check_webhook_url(url, allowed, resolver=FakeDns())
    return caught.value.reason


SSRF_MATRIX = [
    # scheme
    ("http://hook.eu1.make.com/abc", "not_https"),
    ("HTTP://hook.eu1.make.com/abc", "not_https"),
    ("ftp://hook.eu1.make.com/abc", "not_https"),
    ("javascript:alert(1)", "not_https"),
    ("file:///etc/passwd", "not_https"),
    ("gopher://hook.eu1.make.com:70/_x", "not_https"),
    # ports
    ("https://hook.eu1.make.com:80/abc", "bad_port"),
    ("https://hook.eu1.make.com:8443/abc", "bad_port"),
    ("https://hook.eu1.make.com:0/abc", "bad_port"),
    ("https://hook.eu1.make.com:0443/abc", "bad_port"),
    ("https://hook.eu1.make.com:+443/abc", "bad_port"),
    ("https://hook.eu1.make.com:443abc/", "bad_port"),
    ("https://hook.eu1.make.com:65979/", "bad_port"),
    # user info and parser-differential tricks
    ("https://user:pass@hook.eu1.make.com/abc", "credentials_in_url"),
    ("https://user@hook.eu1.make.com/abc", "credentials_in_url"),
    ("https://@hook.eu1.make.com/abc", "credentials_in_url"),
    ("https://hook.make.com@evil.com/", "credentials_in_url"),
    ("https://hook.eu1.make.com:443@evil.com/", "credentials_in_url"),
    ("https://hook.eu1.make.com\\@evil.com/", "credentials_in_url"),
    ("https://evil.com\\.hook.eu1.make.com/", "credentials_in_url"),
    ("https://evil.com\\@hook.eu1.make.com/", "credentials_in_url"),
    # IP literals in every notation
    ("https://127.0.0.1/", "ip_literal"),
    ("https://2130706433/", "ip_literal"),
    ("https://0x7f000001/", "ip_literal"),
    ("https://0x7f.0.0.1/", "ip_literal"),
    ("https://0177.0.0.1/", "ip_literal"),
    ("https://0177.1/", "ip_literal"),
    ("https://127.1/", "ip_literal"),
    ("https://10.1/", "ip_literal"),
    ("https://127.000.000.001/", "ip_literal"),
    ("https://127.0.0.1./", "ip_literal"),
    ("https://0.0.0.0/", "ip_literal"),
    ("https://0/", "ip_literal"),
    ("https://169.254.169.254/latest/meta-data/", "ip_literal"),
    ("https://100.64.0.1/", "ip_literal"),
    ("https://93.184.216.34/", "ip_literal"),
    ("https://[::1]/", "ip_literal"),
    ("https://[::ffff:127.0.0.1]/", "ip_literal"),
    ("https://[::ffff:7f00:1]/", "ip_literal"),
    ("https://[0:0:0:0:0:ffff:127.0.0.1]:443/", "ip_literal"),
    ("https://[fe80::1%25eth0]/", "ip_literal"),
    ("https://::1/", "ip_literal"),
    ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "ip_literal"),  # full-width digits
    ("https://evil.make.com.0x7f/", "ip_literal"),
    # host allow-list: look-alikes and suffix tricks
    ("https://make.com/", "host_not_allowed"),
    ("https://evilmake.com/", "host_not_allowed"),
    ("https://make.com.evil.net/", "host_not_allowed"),
    ("https://hook.make.com.evil.net/", "host_not_allowed"),
    ("https://hook-make.com/", "host_not_allowed"),
    ("https://hook.eu1.make.co/", "host_not_allowed"),
    ("https://hook.eu1.make.com.localhost/", "host_not_allowed"),
    ("https://localhost/", "host_not_allowed"),
    ("https://xn--mke-qla.com/", "host_not_allowed"),
    ("https://hook.eu1.make\uff0ecom.evil.net/", "host_not_allowed"),
    # DNS: allowed host names resolving to non-public addresses
    ("https://internal.make.com/abc", "private_address"),
    ("https://loopback.make.com/abc", "private_address"),
    ("https://metadata.make.com/abc", "private_address"),
    ("https://cgnat.make.com/abc", "private_address"),
    ("https://zero.make.com/abc", "private_address"),
    ("https://multicast.make.com/abc", "private_address"),
    ("https://mapped.make.com/abc", "private_address"),
    ("https://loopback6.make.com/abc", "private_address"),
    ("https://ula.make.com/abc", "private_address"),
    ("https://linklocal6.make.com/abc", "private_address"),
    ("https://sixtofour.make.com/abc", "private_address"),
    ("https://nat64.make.com/abc", "private_address"),
    ("https://mixed.make.com/abc", "private_address"),
    ("https://garbage.make.com/abc", "private_address"),
    ("https://nowhere.make.com/abc", "unresolvable"),
    ("https://empty.make.com/abc", "unresolvable"),
]


@pytest.mark.parametrize(("url", "reason"), SSRF_MATRIX, ids=[u for u, _ in SSRF_MATRIX])
async def test_ssrf_matrix(url: str, reason: str) -> None:
    assert await reason_for(url) == reason


ORDER = [
    ("http://user@1.2.3.4:80/", "credentials_in_url"),
    ("http://1.2.3.4:80/", "not_https"),
    ("https://1.2.3.4:80/", "bad_port"),
    ("https://1.2.3.4/", "ip_literal"),
    ("http://evil.com:8443/", "not_https"),
    ("https://evil.com:8443/", "bad_port"),
    ("https://[::1]:8443/", "bad_port"),
    ("https://loopback.evil.com/", "host_not_allowed"),
]


@pytest.mark.parametrize(("url", "reason"), ORDER, ids=[u for u, _ in ORDER])
async def test_checks_run_in_contract_order(url: str, reason: str) -> None:
    dns = FakeDns({"loopback.evil.com": ["127.0.0.1"]})
    with pytest.raises(WebhookUrlRejected) as caught:
        await check_webhook_url(url, ALLOWED, resolver=dns)
    assert caught.value.reason == reason
    assert dns.asked == []  # refused before any DNS lookup


NOT_URLS = [
    "",
    "not a url",
    "hook.eu1.make.com/abc",
    "https://",
    "https:///abc",
    "https:hook.eu1.make.com/abc",
    " https://hook.eu1.make.com/abc",
    "https://hook.eu1.make.com/abc\n",
    "https://hook.eu1.make.com/a\x00bc",
    "https://hook eu1.make.com/",
    "https://hook.eu1\u200b.make.com/",
    "https://hook%2eeu1.make.com/",
    "https://hook.eu1.make.com%40evil.com/",
    "https://hook..make.com/",
    "https://[::1/",
    "https://hook.eu1.make.com" + "/a" * 2000,
]


@pytest.mark.parametrize("url", NOT_URLS, ids=[repr(u[:40]) for u in NOT_URLS])
async def test_not_a_url_is_a_validation_error(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        await check_webhook_url(url, ALLOWED, resolver=FakeDns())
    assert issubclass(InvalidWebhookUrl, ValueError)


ACCEPTED = [
    ("https://hook.eu1.make.com/abc123", "https://hook.eu1.make.com/abc123"),
    ("HTTPS://HOOK.EU1.MAKE.COM./abc123", "https://hook.eu1.make.com/abc123"),
    ("https://hook.eu1.make.com:443/abc123?x=1#frag", "https://hook.eu1.make.com/abc123?x=1"),
    ("https://hook.eu1.make.com", "https://hook.eu1.make.com/"),
    ("https://hook.eu1.make.com?x=1", "https://hook.eu1.make.com/?x=1"),
    ("https://hook\u3002eu1\uff0emake\u3002com/abc", "https://hook.eu1.make.com/abc"),
    ("https://hook.us1.make.com/abc", "https://hook.us1.make.com/abc"),  # IPv6 only
    ("https://hook.us2.make.com/abc", "https://hook.us2.make.com/abc"),  # dual stack
]


@pytest.mark.parametrize(("url", "canonical"), ACCEPTED, ids=[u for u, _ in ACCEPTED])
async def test_allowed_public_hosts_accepted(url: str, canonical: str) -> None:
    parsed = await check_webhook_url(url, ALLOWED, resolver=FakeDns())
    assert parsed.url == canonical
    assert parsed == check_webhook_url_syntax(canonical, ALLOWED)


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("hook.us1.make.com", ["*.make.com"], True),
        ("hook.make.com", ["*.make.com"], True),
        ("make.com", ["*.make.com"], False),
        ("evilmake.com", ["*.make.com"], False),
        ("make.com.evil.net", ["*.make.com"], False),
        ("make.com", ["make.com"], True),
        ("hook.make.com", ["make.com"], False),
        ("hook.make.com", ["hook.make.com"], True),
        ("hook.make.com", ["HOOK.Make.COM."], True),
        ("hooks.zapier.com", ["*.make.com", "hooks.zapier.com"], True),
        ("hook.make.com", ["*"], False),
        ("hook.make.com", ["*.*.com"], False),
        ("hook.make.com", ["*make.com"], False),
        ("hook.make.com", [""], False),
        ("hook.make.com", [], False),
        ("xn--bcher-kva.example", ["*.example"], True),
        ("hook.xn--bcher-kva.example", ["*.b\u00fccher.example"], True),
    ],
)
def test_wildcard_semantics(host: str, patterns: list[str], allowed: bool) -> None:
    assert host_allowed(host, patterns) is allowed


async def test_no_wildcard_means_exact_hosts_only() -> None:
    assert await reason_for("https://hook.eu1.make.com/x", ["hook.us1.make.com"]) == (
        "host_not_allowed"
    )


async def test_messages_never_carry_the_secret_path() -> None:
    for url in ("https://internal.make.com/SECRET", "https://evil.com/SECRET"):
        with pytest.raises(WebhookUrlRejected) as caught:
            await check_webhook_url(url, ALLOWED, resolver=FakeDns())
        assert "SECRET" not in str(caught.value)


async def test_default_resolver_finds_nothing_for_an_invalid_name() -> None:
    # `.invalid` is reserved (RFC 2606) and never resolves, with or without a network.
    with pytest.raises(WebhookUrlRejected) as caught:
        await check_webhook_url("https://hook.make.invalid/x", ["*.make.invalid"])
    assert caught.value.reason == "unresolvable"


# -- the address-pinning client -----------------------------------------------------------


@dataclass
class Network:
    """Stands in for the Internet under the policy's checks: records what it is asked."""

    respond: Callable[[httpx.Request], httpx.Response] = lambda _: httpx.Response(200, text="ok")
    seen: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            return self.respond(request)

        return httpx.MockTransport(handle)


async def test_connects_to_the_vetted_ip_with_sni_and_host_of_the_name() -> None:
    net = Network()
    async with build_safe_client(ALLOWED, 5.0, FakeDns(), transport=net.transport()) as client:
        response = await client.post("https://hook.eu1.make.com/abc?x=1", json={"event": "t"})
    assert response.status_code == 200
    [sent] = net.seen
    assert sent.url.host == PUBLIC_V4 and sent.url.port is None
    assert sent.url.raw_path == b"/abc?x=1"
    assert sent.extensions["sni_hostname"] == "hook.eu1.make.com"
    assert sent.headers["host"] == "hook.eu1.make.com"
    assert sent.content == b'{"event":"t"}'


async def test_connects_to_an_ipv6_address() -> None:
    net = Network()
    async with build_safe_client(ALLOWED, 5.0, FakeDns(), transport=net.transport()) as client:
        await client.get("https://hook.us1.make.com/abc")
    assert net.seen[0].url.host == PUBLIC_V6
    assert net.seen[0].extensions["sni_hostname"] == "hook.us1.make.com"


async def test_refuses_dns_rebinding_at_connect_time() -> None:
    dns = FakeDns()
    parsed = await check_webhook_url("https://hook.eu1.make.com/abc", ALLOWED, resolver=dns)
    dns.table["hook.eu1.make.com"] = ["127.0.0.1"]  # the attacker's DNS flips after the check
    net = Network()
    async with build_safe_client(ALLOWED, 5.0, dns, transport=net.transport()) as client:
        with pytest.raises(WebhookUrlRejected) as caught:
            await client.post(parsed.url, json={})
    assert caught.value.reason == "private_address"
    assert net.seen == []


async def test_refuses_a_url_that_fails_the_policy() -> None:
    net = Network()
    async with build_safe_client(ALLOWED, 5.0, FakeDns(), transport=net.transport()) as client:
        for url, reason in [
            ("http://hook.eu1.make.com/x", "not_https"),
            ("https://evil.com/x", "host_not_allowed"),
            ("https://internal.make.com/x", "private_address"),
            ("https://hook.eu1.make.com:8443/x", "bad_port"),
            ("https://hook.eu1.make.com%2eevil.com/x", "host_not_allowed"),  # unparseable host
        ]:
            with pytest.raises(WebhookUrlRejected) as caught:
                await client.post(url, json={})
            assert caught.value.reason == reason
    assert net.seen == []


def redirect_to_loopback(_: httpx.Request) -> httpx.Response:
    return httpx.Response(302, headers={"Location": "http://127.0.0.1/admin"})


async def test_does_not_follow_a_redirect_to_loopback() -> None:
    net = Network(redirect_to_loopback)
    async with build_safe_client(ALLOWED, 5.0, FakeDns(), transport=net.transport()) as client:
        response = await client.post("https://hook.eu1.make.com/abc", json={})
    assert response.status_code == 302
    assert response.headers["location"] == "http://127.0.0.1/admin"
    assert len(net.seen) == 1


async def test_a_redirect_forced_by_the_caller_is_still_checked() -> None:
    net = Network(redirect_to_loopback)
    async with build_safe_client(ALLOWED, 5.0, FakeDns(), transport=net.transport()) as client:
        with pytest.raises(WebhookUrlRejected) as caught:
            await client.post("https://hook.eu1.make.com/abc", json={}, follow_redirects=True)
    assert caught.value.reason == "not_https"
    assert len(net.seen) == 1


async def test_tries_the_next_vetted_address_when_one_refuses_connections() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == PUBLIC_V4:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(204)

    transport = httpx.MockTransport(handle)
    async with build_safe_client(ALLOWED, 5.0, FakeDns(), transport=transport) as client:
        response = await client.post("https://hook.us2.make.com/abc", json={})
    assert response.status_code == 204
    assert seen == [PUBLIC_V4, PUBLIC_V6]


async def test_environment_proxies_do_not_bypass_the_checks(monkeypatch: Any) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    net = Network()
    async with build_safe_client(ALLOWED, 5.0, FakeDns(), transport=net.transport()) as client:
        await client.post("https://hook.eu1.make.com/abc", json={})
    assert net.seen[0].url.host == PUBLIC_V4


# A real TLS handshake through httpx's own transport: the pinned request must present the host
# name as SNI and verify the certificate against it, not against the IP it connects to.


@dataclass
class TlsServer:
    port: int
    server_names: list[str | None] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)


def self_signed(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, bytes]:
    cert_pem, key_pem = self_signed("hook.eu1.make.com")
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    return str(folder / "cert.pem"), str(folder / "key.pem"), cert_pem


@pytest.fixture
async def tls_server(certificate: tuple[str, str, bytes]) -> AsyncIterator[TlsServer]:
    cert_file, key_file, _ = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    state = TlsServer(port=0)

    def remember_sni(_sock: Any, server_name: str | None, _ctx: Any) -> None:
        state.server_names.append(server_name)

    context.sni_callback = remember_sni

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            state.requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    state.port = server.sockets[0].getsockname()[1]
    yield state
    server.close()
    await server.wait_closed()


class ToLocalServer(httpcore.AsyncNetworkBackend):
    """Delivers connections for the public test address to the local TLS server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.targets: list[tuple[str, int]] = []
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        self.targets.append((host, port))
        assert host == PUBLIC_V4, "the transport must connect to the vetted address"
        return await self.inner.connect_tcp("127.0.0.1", self.port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def real_transport(cert_pem: bytes, backend: ToLocalServer) -> httpx.AsyncHTTPTransport:
    trust = ssl.create_default_context(cadata=cert_pem.decode())
    transport = httpx.AsyncHTTPTransport(verify=trust)
    # httpx has no public knob for the network backend; this is the only reach-in.
    transport._pool = httpcore.AsyncConnectionPool(ssl_context=trust, network_backend=backend)
    return transport


async def test_real_tls_uses_the_host_name_for_sni_and_certificate(
    tls_server: TlsServer, certificate: tuple[str, str, bytes]
) -> None:
    backend = ToLocalServer(tls_server.port)
    transport = real_transport(certificate[2], backend)
    async with build_safe_client(ALLOWED, 5.0, FakeDns(), transport=transport) as client:
        response = await client.post("https://hook.eu1.make.com/abc", json={})
    assert response.status_code == 200 and response.text == "ok"
    assert backend.targets == [(PUBLIC_V4, 443)]
    assert tls_server.server_names == ["hook.eu1.make.com"]
    assert b"\r\nhost: hook.eu1.make.com\r\n" in tls_server.requests[0].lower()


async def test_real_tls_refuses_a_certificate_for_another_name(
    tls_server: TlsServer, certificate: tuple[str, str, bytes]
) -> None:
    backend = ToLocalServer(tls_server.port)
    transport = real_transport(certificate[2], backend)
    # hook.eu2.make.com resolves to the same vetted address, but the certificate there is for
    # hook.eu1: verification is against the name we asked for, so the handshake fails.
    dns = FakeDns({"hook.eu2.make.com": [PUBLIC_V4]})
    async with build_safe_client(ALLOWED, 5.0, dns, transport=transport) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.post("https://hook.eu2.make.com/abc", json={})
    assert tls_server.server_names == ["hook.eu2.make.com"]


async def test_transport_is_an_httpx_transport() -> None:
    transport = SafeWebhookTransport(ALLOWED)
    assert isinstance(transport, httpx.AsyncBaseTransport)
    await transport.aclose()
    assert isinstance(
        check_webhook_url_syntax("https://hook.eu1.make.com/x", ALLOWED), ParsedWebhookUrl
    )
