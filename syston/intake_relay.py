"""The intake relay: a background loop, in every API and every worker process, that starts the
workflow of every accepted signup still waiting for one (syston.intake).

No leader, no singleton: each pass claims rows under a lease, so any number of relays share the
backlog, one process of each kind is enough, and whichever process survives a crash picks up
the rest. The loop also keeps the backlog gauges current (pending rows, age of the oldest).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from typing import Any, Protocol

from syston.core.db import utcnow
from syston.core.logs import event_sink_var, log_event
from syston.core.metrics import IntakeMetrics
from syston.intake import ProvisionIntake

RELAY_INTERVAL_SECONDS = 5.0


class ProcessMetrics(Protocol):
    """The API's or the worker's metrics: their intake gauges, and their event sink."""

    intake: IntakeMetrics

    def on_event(self, event: str, fields: Mapping[str, Any]) -> None: ...


class IntakeRelay:
    """Runs `ProvisionIntake.relay()` every RELAY_INTERVAL_SECONDS (jittered) until stopped;
    `metrics` counts its events and shows the backlog."""

    def __init__(
        self,
        intake: ProvisionIntake,
        metrics: ProcessMetrics | None = None,
        *,
        interval: float = RELAY_INTERVAL_SECONDS,
    ) -> None:
        self._intake = intake
        self._metrics = metrics.intake if metrics is not None else None
        self._sink = metrics.on_event if metrics is not None else None
        self._interval = interval
        # Its own generator: the process-wide one belongs to whoever else uses it (e.g. a
        # property-based test generating requests against this process).
        self._jitter = random.Random()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="intake-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> None:
        """One pass: start what is claimable, then refresh the gauges."""
        backlog = await self._intake.backlog()
        now = utcnow()
        if backlog.next_available_at is not None and backlog.next_available_at <= now:
            done = await self._intake.relay()
            if done.started or done.already_started or done.failed:
                backlog = await self._intake.backlog()
                now = utcnow()
        if self._metrics is not None:
            self._metrics.observe_backlog(backlog.pending, backlog.oldest_age_seconds(now))

    async def _run(self) -> None:
        if self._sink is not None:
            event_sink_var.set(self._sink)  # this task's own context: counters see its events
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # the database is down, say: try again next time
                log_event(
                    "intake_relay_error",
                    logging.WARNING,
                    error_type=type(exc).__name__,
                    error=str(exc)[:300],
                )
            # jitter keeps many replicas' passes from lining up
            await asyncio.sleep(self._interval * self._jitter.uniform(0.8, 1.2))
