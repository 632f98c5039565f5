"""The worker's event dispatcher: delivers the lifecycle-event outbox, signed, at least once.

Each worker process runs one `EventDispatcher` beside its Temporal worker. It claims due events
with a lease (so several workers share the outbox without sending one attempt twice), signs
each with the Standard Webhooks headers from the stored body, id and creation time (identical
on every retry), and posts it: to the tenant's admin-set URL through the SSRF-safe client, or
to the platform's MAKE_WEBHOOK_URL (trusted operator configuration). A failed attempt is
retried with exponential backoff for up to MAX_EVENT_AGE, then abandoned (and logged). A
worker that dies mid-delivery leaves a lease that expires: the event is sent again, with the
same id, which receivers deduplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import httpx

from integrations.errors import UpstreamError
from integrations.make import MakeClient
from syston.core.db import utcnow
from syston.core.logs import EventSink, event_sink_var, log_event, mask_url
from syston.core.webhook_signing import signature_headers
from syston.lifecycle_events import EventOutbox, PendingEvent
from syston.webhook_policy import WebhookUrlRejected

POLL_SECONDS = 0.5
BATCH = 20
LEASE = timedelta(seconds=60)
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0
MAX_EVENT_AGE = timedelta(days=3)


def retry_delay(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s, … up to 5 minutes between attempts."""
    return timedelta(seconds=min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (attempts - 1)))


class EventDispatcher:
    """Drains the outbox until stopped."""

    def __init__(
        self,
        outbox: EventOutbox,
        make: MakeClient,
        *,
        signing_keys: Sequence[bytes],
        platform_webhook_url: str | None,
        tenant_webhook_client: httpx.AsyncClient | None,
        poll_seconds: float = POLL_SECONDS,
        event_sink: EventSink | None = None,
    ) -> None:
        self._outbox = outbox
        self._make = make
        self._keys = list(signing_keys)
        self._platform_url = platform_webhook_url
        self._tenant_client = tenant_webhook_client
        self._poll = poll_seconds
        self._sink = event_sink

    async def run(self) -> None:
        """Deliver due events until cancelled; a database hiccup is logged and waited out."""
        if self._sink is not None:  # the worker's metrics count deliveries from the events
            event_sink_var.set(self._sink)
        while True:
            try:
                sent = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_event(
                    "lifecycle_event_outbox_unavailable",
                    logging.WARNING,
                    error=f"{type(exc).__name__}: {exc}",
                )
                sent = 0
            if not sent:
                await asyncio.sleep(self._poll)

    async def drain_once(self) -> int:
        """Deliver every event due now (one batch); how many were attempted.

        The delivered ones are settled together, in one transaction after the batch: a worker
        that dies before it sends them again when their lease ends (receivers deduplicate)."""
        due = await self._outbox.claim_due(BATCH, LEASE)
        if not due:
            return 0
        outcomes = await asyncio.gather(*(self._deliver(event) for event in due))
        delivered = [
            (event, status)
            for event, status in zip(due, outcomes, strict=True)
            if status is not None
        ]
        await self._outbox.delivered([(event.id, status) for event, status in delivered])
        for event, status in delivered:
            log_event(
                "lifecycle_event_delivered",
                tenant_id=event.tenant_id,
                event_id=event.id,
                type=event.type,
                url=mask_url(self._target(event)[0]),
                attempt=event.attempts,
                status=status,
            )
        return len(due)

    async def _deliver(self, event: PendingEvent) -> int | None:
        """Send one event: the receiver's status, or None when the attempt failed (recorded)."""
        url, own = self._target(event)
        if not url:
            await self._failed(event, "no webhook: neither the tenant's nor MAKE_WEBHOOK_URL", None)
            return None
        body = event.body.encode()
        headers = signature_headers(self._keys, event.id, int(event.created_at.timestamp()), body)
        try:
            return await self._make.post(
                url, body, headers, client=self._tenant_client if own is not None else None
            )
        except WebhookUrlRejected as exc:
            await self._failed(event, f"webhook URL refused: {exc.reason}", None, url)
        except UpstreamError as exc:
            await self._failed(event, f"{exc.code}: {exc.message}", exc.status, url)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            await self._failed(event, f"UPSTREAM_ERROR: {type(exc).__name__}", None, url)
        return None

    def _target(self, event: PendingEvent) -> tuple[str | None, str | None]:
        """Where the event goes, and that URL again when it is the tenant's own (policed)."""
        own = event.target_url if event.target_url != self._platform_url else None
        return own or self._platform_url, own

    async def _failed(
        self, event: PendingEvent, error: str, status: int | None, url: str | None = None
    ) -> None:
        expired = utcnow() - event.created_at > MAX_EVENT_AGE
        retry_at = None if expired else utcnow() + retry_delay(event.attempts)
        await self._outbox.failed(event.id, error, status, retry_at)
        log_event(
            "lifecycle_event_abandoned" if retry_at is None else "lifecycle_event_retrying",
            logging.ERROR if retry_at is None else logging.WARNING,
            tenant_id=event.tenant_id,
            event_id=event.id,
            type=event.type,
            url=mask_url(url),
            attempt=event.attempts,
            status=status,
            error=error,
        )


@contextlib.asynccontextmanager
async def dispatching(dispatcher: EventDispatcher) -> AsyncIterator[None]:
    """Run the dispatcher in the background for the duration of the block."""
    task = asyncio.create_task(dispatcher.run(), name="lifecycle-event-dispatcher")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
