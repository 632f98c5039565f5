"""The Temporal dev server killed (SIGKILL) and restarted on the same database file while a
tenant is mid-provisioning: the worker and the API reconnect by themselves and provisioning
completes, exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from syston.core.temporal import provision_workflow_id
from tests.support.emulator_server import RunningEmulator
from tests.support.processes import DevServer
from tests.support.provisioning import assert_exactly_once, step_of, wait_step
from tests.support.stack import make_settings, migrate, open_stack

DOWN_SECONDS = 1.0


async def test_dev_server_killed_mid_provisioning_then_restarted(
    dev_server: DevServer,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    sqlite_url: str,
) -> None:
    settings = make_settings(sqlite_url, emulator, service_account_key, dev_server.address)
    await migrate(sqlite_url)
    client = await Client.connect(dev_server.address, data_converter=pydantic_data_converter)
    async with open_stack(settings, client, emulator) as stack:
        # keep the tenant busy in configure_webhook across the outage
        emulator.add_fault(target="make", mode="latency", latencyMs=1500, count=1)
        response = await stack.signup("outage-fc", "pro")
        assert response.status_code == 202, response.text
        tenant_id: str = response.json()["tenantId"]
        await wait_step(stack, tenant_id, "configure_webhook", "running")

        dev_server.kill()
        await asyncio.sleep(DOWN_SECONDS)
        dev_server.start()
        assert dev_server.runs == 2

        status = await stack.wait_for(tenant_id, "active", timeout=90)
        assert step_of(status, "create_sheet")["attempts"] == 1
        print("\nconfigure_webhook attempts:", step_of(status, "configure_webhook")["attempts"])
        assert_exactly_once(emulator, tenant_id)
        handle = client.get_workflow_handle(provision_workflow_id(tenant_id))
        await asyncio.wait_for(handle.result(), 60)

        # the API's client talks to the restarted server: re-queue and a new signup work
        queued = await stack.api.post(
            "/internal/provision/queue",
            json={"tenantId": tenant_id},
            headers=stack.service_headers(),
        )
        assert queued.status_code == 200, queued.text
        assert queued.json()["action"] == "already_active"
        after = await stack.signup("after-outage-fc", "starter")
        assert after.status_code == 202, after.text
        await stack.wait_for(after.json()["tenantId"], "active", timeout=60)
