"""How a stopped step is reported: the code ops see in provision-status and the Temporal UI."""

from __future__ import annotations

import pytest
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RetryState,
    TimeoutError,
    TimeoutType,
)

from workflows.provision import STEP_RETRY, _describe

pytestmark = pytest.mark.fast


def stopped(cause: BaseException, retry_state: RetryState) -> ActivityError:
    err = ActivityError(
        "activity error",
        scheduled_event_id=5,
        started_event_id=6,
        identity="worker",
        activity_type="create_sheet",
        activity_id="2",
        retry_state=retry_state,
    )
    err.__cause__ = cause
    return err


def test_a_permanent_upstream_error_keeps_its_code() -> None:
    cause = ApplicationError("Google answered 403", type="UPSTREAM_AUTH", non_retryable=True)
    assert _describe(stopped(cause, RetryState.NON_RETRYABLE_FAILURE)) == (
        "UPSTREAM_AUTH",
        "Google answered 403",
    )


def test_running_out_of_attempts_says_so() -> None:
    cause = ApplicationError("Make webhook answered 503", type="UPSTREAM_UNAVAILABLE")
    code, message = _describe(stopped(cause, RetryState.MAXIMUM_ATTEMPTS_REACHED))
    assert code == "UPSTREAM_UNAVAILABLE"
    assert f"gave up after {STEP_RETRY.maximum_attempts} attempts" in message


@pytest.mark.parametrize("kind", [TimeoutType.START_TO_CLOSE, TimeoutType.HEARTBEAT])
def test_an_activity_timeout_is_upstream_timeout(kind: TimeoutType) -> None:
    cause = TimeoutError("activity timeout", type=kind, last_heartbeat_details=[])
    code, message = _describe(stopped(cause, RetryState.MAXIMUM_ATTEMPTS_REACHED))
    assert code == "UPSTREAM_TIMEOUT"
    assert kind.name.lower() in message


def test_a_cancelled_step() -> None:
    code, _ = _describe(stopped(CancelledError("cancelled"), RetryState.CANCEL_REQUESTED))
    assert code == "STEP_CANCELLED"
