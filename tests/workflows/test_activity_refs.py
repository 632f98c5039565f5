"""The activity references the workflow calls (workflows/activity_refs.py) and the worker's
implementations (activities.provisioning.ProvisioningActivities and
activities.lifecycle.LifecycleActivities) agree: every reference has an
implementation under the same name taking and returning the same models, and the worker
registers nothing the workflow cannot call. A drift would only show on a live run, as a
step failing with "activity type not registered" or a payload that does not decode."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import pytest
from temporalio import activity

from activities.lifecycle import LifecycleActivities
from activities.provisioning import ProvisioningActivities
from workflows import activity_refs

pytestmark = pytest.mark.fast


def definitions(functions: list[Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Activity name → function, for every function that is an activity definition."""
    found: dict[str, Callable[..., Any]] = {}
    for function in functions:
        definition = activity._Definition.from_callable(function)
        if definition is not None and definition.name is not None:
            found[definition.name] = function
    return found


REFERENCES = definitions([v for _, v in inspect.getmembers(activity_refs, inspect.isfunction)])
IMPLEMENTATIONS = definitions(
    [
        v
        for cls in (ProvisioningActivities, LifecycleActivities)
        for _, v in inspect.getmembers(cls, inspect.isfunction)
    ]
)


def signature(function: Callable[..., Any]) -> tuple[list[Any], Any]:
    """The parameter annotations (without `self`) and the return annotation, resolved."""
    hints = typing.get_type_hints(function)
    params = [hints.get(name) for name in inspect.signature(function).parameters if name != "self"]
    return params, hints.get("return")


def test_the_references_cover_every_step_and_ledger_activity() -> None:
    assert set(REFERENCES) == {
        "begin_provisioning",
        "record_provisioning_failure",
        "resume_provisioning",
        "create_sheet",
        "configure_webhook",
        "mark_active",
        "begin_operation",
        "record_operation_failure",
        "resume_operation",
        "finish_operation",
        "begin_deletion",
        "plan_create_sheet",
        "plan_announce",
        "plan_apply",
        "offboard_transfer_sheet",
        "offboard_notify",
        "offboard_clear_webhook",
        "offboard_revoke_tokens",
        "offboard_erase_personal_data",
        "offboard_mark_deleted",
    }
    assert {
        activity._Definition.must_from_callable(ref).name
        for ref in activity_refs.STEP_ACTIVITIES.values()
    } == set(activity_refs.STEP_ACTIVITIES)
    assert len(activity_refs.OPERATION_STEP_ACTIVITIES) == 9


def test_the_worker_implements_exactly_the_referenced_activities() -> None:
    assert set(IMPLEMENTATIONS) == set(REFERENCES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_each_implementation_takes_and_returns_what_its_reference_declares(name: str) -> None:
    reference, implementation = REFERENCES[name], IMPLEMENTATIONS[name]
    assert signature(implementation) == signature(reference)
    assert len(signature(reference)[0]) == 1, "one pydantic model in (DESIGN rule 2)"
