"""Moved to `tests.support.provisioning`; re-exported for tests that import it from here."""

from tests.support.provisioning import (
    POLL_SECONDS,
    assert_exactly_once,
    deliveries_of,
    events_of,
    sheets_of,
    step_of,
    wait_listed,
    wait_step,
    watch_step,
    workflow_status,
)

__all__ = [
    "POLL_SECONDS",
    "assert_exactly_once",
    "deliveries_of",
    "events_of",
    "sheets_of",
    "step_of",
    "wait_listed",
    "wait_step",
    "watch_step",
    "workflow_status",
]
