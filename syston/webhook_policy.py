"""Webhook URL policy: which tenant-owned URLs we will store and call
(docs/http-api.md#webhook-url-policy).

A tenant's Make webhook URL is attacker-influenced input that the platform later POSTs to, so it
is checked twice: when stored (`check_webhook_url`) and on every delivery, against the address
actually connected to (`build_safe_client`), so DNS rebinding between the two cannot reach an
internal address. Redirects are never followed.

Checks, in the contract's order (the first failing one is the reason)::

    InvalidWebhookUrl (ValueError)   empty, not a URL, whitespace/control characters, bad host
    WebhookUrlRejected(reason)       credentials_in_url → not_https → bad_port → ip_literal
                                     → host_not_allowed → unresolvable | private_address

Both derive from `WebhookUrlError`. At delivery the client raises only `WebhookUrlRejected`.

Decisions:
- Any `@` in the authority is `credentials_in_url`, and so is a backslash there: browsers read
  `\\` as `/` while RFC 3986 parsers keep it in the user info/host, so `https://a\\@b/` means two
  different hosts to two different parsers.
- Only port 443 or no port is accepted; `:0443`, `:+443` and every other spelling is `bad_port`
  (a number written two ways is how parser differentials start). An empty port (`host:/`) is
  the scheme default under both RFC 3986 and WHATWG, so it is accepted.
- A host is an IP literal when it is bracketed or contains `:` (IPv6), or when its last label is
  numeric (`127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`): that is exactly when a WHATWG
  parser or `inet_aton` would read it as an address, and no real DNS name ends in a number.
- Hosts are lower-cased, one trailing dot is dropped and non-ASCII hosts are IDNA (UTS #46)
  mapped first, so full-width digits and dots cannot smuggle a literal or a look-alike past.
- Allow-list entries that are neither a host name nor `*.` + a host name never match.
- Messages name the host, never the path: a Make hook URL is a bearer secret.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import httpx
import idna

RejectReason = Literal[
    "not_https",
    "host_not_allowed",
    "ip_literal",
    "private_address",
    "bad_port",
    "credentials_in_url",
    "unresolvable",
]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Awaitable[list[str]]]
"""`async (host) -> addresses`: the system resolver by default, injectable for tests."""

MAX_URL_CHARS: Final = 2048
DNS_TIMEOUT_SECONDS: Final = 5.0
HTTPS_PORT: Final = 443

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp"})
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


class WebhookUrlError(Exception):
    """A webhook URL we will not store or call."""


class InvalidWebhookUrl(WebhookUrlError, ValueError):
    """Not a URL at all (the API answers 422 `VALIDATION`)."""


class WebhookUrlRejected(WebhookUrlError):
    """A URL the policy refuses (the API answers 422 `WEBHOOK_URL_REJECTED` with `reason`)."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        self.reason: RejectReason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


@dataclass(frozen=True, slots=True)
class ParsedWebhookUrl:
    """A URL that passed the policy, in canonical form (store and call `url`)."""

    url: str  # https://{host}{path}; no port, user info or fragment
    host: str  # lower-case ASCII (IDNA), no trailing dot
    path: str  # path and query, at least "/"


# -- syntax and allow-list ----------------------------------------------------------------


def check_webhook_url_syntax(url: str, allowed: Sequence[str]) -> ParsedWebhookUrl:
    """Every check that needs no network, in the contract's order."""
    if not isinstance(url, str) or not url:
        raise InvalidWebhookUrl("the webhook URL is empty")
    if len(url) > MAX_URL_CHARS:
        raise InvalidWebhookUrl(f"the webhook URL is longer than {MAX_URL_CHARS} characters")
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in url):
        raise InvalidWebhookUrl("the webhook URL contains whitespace or control characters")
    scheme_match = _SCHEME.match(url)
    if scheme_match is None:
        raise InvalidWebhookUrl("the webhook URL has no scheme")
    scheme = scheme_match.group(1).lower()
    rest = url[scheme_match.end() :]
    if not rest.startswith("//"):
        if scheme == "https":
            raise InvalidWebhookUrl("the webhook URL has no host")
        raise WebhookUrlRejected("not_https", "the webhook URL must use https")

    after = rest[2:]
    end = next((i for i, ch in enumerate(after) if ch in "/?#"), len(after))
    authority, tail = after[:end], after[end:]
    if "@" in authority or "\\" in authority:
        raise WebhookUrlRejected(
            "credentials_in_url", "the webhook URL must not carry user info (or '@', '\\')"
        )
    if scheme != "https":
        raise WebhookUrlRejected("not_https", "the webhook URL must use https")

    raw_host, port = _split_port(authority)
    if port not in (None, "", str(HTTPS_PORT)):
        raise WebhookUrlRejected("bad_port", "only port 443 is allowed")
    if not raw_host:
        raise InvalidWebhookUrl("the webhook URL has no host")
    if raw_host.startswith("[") or ":" in raw_host:
        raise WebhookUrlRejected("ip_literal", "the host must be a name, not an IP address")

    host = normalise_host(raw_host)
    if _is_ip_literal(host):
        raise WebhookUrlRejected("ip_literal", "the host must be a name, not an IP address")
    if not host_allowed(host, allowed):
        raise WebhookUrlRejected("host_not_allowed", f"host {host!r} is not allowed")

    path = tail.split("#", 1)[0]
    if not path.startswith("/"):
        path = "/" + path
    return ParsedWebhookUrl(url=f"https://{host}{path}", host=host, path=path)


def _split_port(authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        close = authority.find("]")
        if close == -1:
            raise InvalidWebhookUrl("the webhook URL has an unterminated '['")
        host, rest = authority[: close + 1], authority[close + 1 :]
        if rest and not rest.startswith(":"):
            raise InvalidWebhookUrl("the webhook URL has a malformed host")
        return host, rest[1:] if rest else None
    if authority.count(":") > 1:  # an unbracketed IPv6 address: no port can be told apart
        return authority, None
    host, colon, port = authority.partition(":")
    return host, port if colon else None


def normalise_host(host: str) -> str:
    """Lower-case ASCII form of a host name (IDNA/UTS #46), without its trailing dot."""
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
        if mapped.endswith("."):
            mapped = mapped[:-1]
        ascii_host = mapped if mapped.isascii() else idna.encode(mapped).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise InvalidWebhookUrl("the webhook URL's host is not a valid name") from None
    ascii_host = ascii_host.lower()
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidWebhookUrl("the webhook URL's host is not a valid name")
    return ascii_host


def _is_ip_literal(host: str) -> bool:
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Whether `host` (normalised) matches an entry exactly or a `*.` entry as a subdomain."""
    for pattern in patterns:
        wildcard = pattern.strip().startswith("*.")
        try:
            name = normalise_host(pattern.strip()[2:] if wildcard else pattern.strip())
        except InvalidWebhookUrl:
            continue  # a malformed entry (`*`, `*.*.com`, …) never matches
        if host.endswith("." + name) if wildcard else host == name:
            return True
    return False


# -- addresses ----------------------------------------------------------------------------


def is_public_address(address: IPAddress) -> bool:
    """Whether `address` is globally routable (IPv4 embedded in IPv6 is judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        if address.teredo is not None or address.is_site_local:
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


async def system_resolver(host: str) -> list[str]:
    """Every address the system resolver gives for `host`."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, HTTPS_PORT, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_public_addresses(host: str, resolver: Resolver | None = None) -> list[IPAddress]:
    """The addresses of `host`, all of them public, or `WebhookUrlRejected`."""
    try:
        async with asyncio.timeout(DNS_TIMEOUT_SECONDS):
            answers = await (resolver or system_resolver)(host)
    except (OSError, UnicodeError, TimeoutError):  # socket.gaierror is an OSError
        answers = []
    if not answers:
        raise WebhookUrlRejected("unresolvable", f"host {host!r} does not resolve")
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer.split("%", 1)[0])
        except ValueError:
            address = None
        if address is None or not is_public_address(address):
            raise WebhookUrlRejected(
                "private_address", f"host {host!r} resolves to a non-public address"
            )
        if address not in addresses:
            addresses.append(address)
    return addresses


async def check_webhook_url(
    url: str, allowed: Sequence[str], resolver: Resolver | None = None
) -> ParsedWebhookUrl:
    """The full policy: syntax and allow-list, then DNS (every address must be public)."""
    parsed = check_webhook_url_syntax(url, allowed)
    await resolve_public_addresses(parsed.host, resolver)
    return parsed


# -- delivery -----------------------------------------------------------------------------


class SafeWebhookTransport(httpx.AsyncBaseTransport):
    """Re-checks every request and connects only to an address it has just vetted.

    Per request: the URL passes `check_webhook_url_syntax`, the host is resolved here, every
    address must be public, and the request goes to that IP with the original `Host` header and
    TLS SNI / certificate check for the host name. A resolver that answers differently at connect
    time than at store time therefore cannot steer the connection to a private address.
    """

    def __init__(
        self,
        allowed: Sequence[str],
        *,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._allowed = list(allowed)
        self._resolver = resolver
        # No keep-alive: the pool is keyed by IP, and two allowed hosts sharing an IP must not
        # share a TLS session negotiated for the other name.
        self._inner = transport or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_keepalive_connections=0)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            parsed = check_webhook_url_syntax(str(request.url), self._allowed)
        except InvalidWebhookUrl as exc:  # callers handle one exception type at delivery
            raise WebhookUrlRejected("host_not_allowed", str(exc)) from exc
        addresses = await resolve_public_addresses(parsed.host, self._resolver)
        failure: httpx.ConnectError | None = None
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=str(address)),
                headers=request.headers,  # keeps Host: the name, not the IP
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": parsed.host},
            )
            try:
                return await self._inner.handle_async_request(pinned)
            except httpx.ConnectError as exc:  # nothing sent yet: try the next address
                failure = exc
        assert failure is not None  # addresses is never empty
        raise failure

    async def aclose(self) -> None:
        await self._inner.aclose()


def build_safe_client(
    allowed: Sequence[str],
    timeout: float,
    resolver: Resolver | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An httpx client for tenant-owned webhook URLs: address-checked, never redirected.

    A request to a refused URL or address raises `WebhookUrlRejected` (a URL that is not even
    parseable counts as `host_not_allowed` here). `transport` replaces the network transport
    under the checks (tests).
    """
    return httpx.AsyncClient(
        transport=SafeWebhookTransport(allowed, resolver=resolver, transport=transport),
        follow_redirects=False,
        timeout=timeout,
        # Nothing from the environment: no proxy (which would connect instead of us), no .netrc
        # credentials sent to a tenant's host. httpx already skips env proxies when given a
        # transport; this keeps it so if that ever changes.
        trust_env=False,
    )
