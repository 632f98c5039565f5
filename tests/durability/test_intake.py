"""Durable intake against real processes (SQLite and PostgreSQL): no accepted signup is lost or
stranded, whatever crashes, and a Temporal outage does not stop signups.

- Temporal killed: signups still get 202, show `processing` with no run, `/ready` stays 200
  with `temporal: down`; Temporal restarted: every such tenant reaches `active`, one run each,
  with no client retry (the relays in the API and the worker start them).
- `syston api` SIGKILLed during a burst of signups, some of them held between their commit and
  their workflow start (Temporal paused): restarted, every tenant the database accepted gets
  its workflow (within a minute) and reaches `active`, one run each, with no client retry.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from syston.core.db import Tenant
from syston.core.engine import create_engine
from syston.core.temporal import provision_workflow_id
from syston.tokens import TokenService
from tests.support.cli import free_port
from tests.support.emulator_server import RunningEmulator
from tests.support.intake import pending_intake, runs_per_tenant, wait_until
from tests.support.problems import assert_problem
from tests.support.processes import ApiProcess, DevServer, dump
from tests.support.stack import Stack, make_settings, running_api, running_worker

BACK_BOUND_SECONDS = 30.0  # provisioning starts within 30 s of Temporal and a worker being back
CRASH_BOUND_SECONDS = 60.0  # every accepted tenant gets its workflow within 60 s of a crash
OUTAGE_SIGNUPS = 6
BURST_CLIENTS = 8


async def test_signups_during_a_temporal_outage_are_provisioned_once_it_is_back(
    dev_server: DevServer,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    database_url: str,
) -> None:
    settings = make_settings(database_url, emulator, service_account_key, dev_server.address)
    client = await Client.connect(dev_server.address, data_converter=pydantic_data_converter)
    async with running_worker(settings, client), running_api(settings, client) as api:
        stack = Stack(
            settings, api, client, emulator, TokenService(settings.jwt_secrets, settings.jwt_issuer)
        )
        dev_server.kill()

        plans = ["pro", "starter"] * (OUTAGE_SIGNUPS // 2)
        responses = await asyncio.gather(
            *(stack.signup(f"outage-{i}-fc", plan) for i, plan in enumerate(plans))
        )
        assert [r.status_code for r in responses] == [202] * OUTAGE_SIGNUPS, [
            r.text for r in responses
        ]
        tenant_ids = [r.json()["tenantId"] for r in responses]

        ready = await api.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"ok": True, "checks": {"database": "ok", "temporal": "down"}}
        for tenant_id in tenant_ids:
            view = await stack.status(tenant_id)
            assert view["status"] == "processing"
            assert {s["status"] for s in view["steps"]} == {"pending"}
            assert view["workflow"] == {"id": provision_workflow_id(tenant_id), "runId": None}
        replay = await stack.signup("outage-0-fc", "pro")
        assert replay.status_code == 200 and replay.json()["tenantId"] == tenant_ids[0]
        queued = await api.post(
            "/internal/provision/queue",
            json={"tenantId": tenant_ids[0]},
            headers=stack.service_headers(),
        )
        assert_problem(queued, 503, "UNAVAILABLE")
        assert queued.headers["retry-after"]
        assert await pending_intake(database_url) == set(tenant_ids)

        dev_server.start()  # the worker and the API's client reconnect by themselves

        async def all_active() -> bool:
            views = [await stack.status(t) for t in tenant_ids]
            return all(v["status"] == "active" for v in views)

        took = await wait_until(
            all_active, "every tenant accepted in the outage is active", BACK_BOUND_SECONDS
        )
        print(f"\n{OUTAGE_SIGNUPS} tenants active {took:.1f} s after Temporal came back")

        assert await pending_intake(database_url) == set()
        runs = await runs_per_tenant(client, settings.temporal_task_queue, tenant_ids)
        assert runs == dict.fromkeys(tenant_ids, 1)
        for tenant_id in tenant_ids:
            view = await stack.status(tenant_id)
            run_id = view["workflow"]["runId"]
            handle = client.get_workflow_handle(provision_workflow_id(tenant_id))
            assert (await handle.describe()).run_id == run_id

        async def backlog_gauge_empty() -> bool:
            return "\nsyston_intake_pending 0.0\n" in (await api.get("/metrics")).text

        await wait_until(backlog_gauge_empty, "the pending-intake gauge back at 0", 30)


async def test_the_api_killed_during_a_signup_burst_strands_no_tenant(
    dev_server: DevServer,
    api_process: list[ApiProcess],
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    database_url: str,
    tmp_path: Path,
) -> None:
    settings = make_settings(database_url, emulator, service_account_key, dev_server.address)
    client = await Client.connect(dev_server.address, data_converter=pydantic_data_converter)
    api = ApiProcess(settings, tmp_path, free_port())
    api_process.append(api)
    api.start()
    engine = create_engine(database_url)

    async def accepted() -> int:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(Tenant)) or 0)

    answered: list[str] = []
    try:
        async with running_worker(settings, client):
            async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:

                async def sign_up_until_killed(worker: int) -> None:
                    for i in range(10_000):
                        slug = f"burst-{worker}-{i}-fc"
                        body = {
                            "clubName": slug,
                            "clubSlug": slug,
                            "email": f"{slug}@example.org",
                            "plan": "starter" if i % 2 else "pro",
                        }
                        try:
                            response = await http.post("/public/signup/start", json=body)
                        except httpx.TransportError:
                            return  # the API is gone
                        assert response.status_code == 202, response.text
                        answered.append(response.json()["tenantId"])

                burst = [asyncio.create_task(sign_up_until_killed(n)) for n in range(BURST_CLIENTS)]
                await wait_until(
                    lambda: _at_least(len(answered), 2 * BURST_CLIENTS), "signups answered", 60
                )
                # Hold the next signups between their commit and their workflow start, then
                # kill the API with them in flight.
                dev_server.pause()
                held_from = await accepted()
                await wait_until(
                    lambda: _more(accepted, held_from + 3), "signups committed while held", 30
                )
                api.kill()
                killed = time.monotonic()
                dev_server.resume()
                await asyncio.gather(*burst)

            tenant_ids = await _tenant_ids(engine)
            stranded = await pending_intake(database_url)
            print(
                f"\n{len(tenant_ids)} accepted, {len(answered)} answered 202, "
                f"{len(stranded)} without a confirmed start when the API died"
            )
            assert set(answered) <= set(tenant_ids)
            assert len(stranded) >= 3  # the held ones at least: the crash hit that window

            api.start()  # restarted; nobody re-sends anything

            async def all_started() -> bool:
                return not await pending_intake(database_url)

            await wait_until(
                all_started,
                "every accepted tenant's workflow started after the crash",
                CRASH_BOUND_SECONDS - (time.monotonic() - killed),
            )
            print(f"every workflow started {time.monotonic() - killed:.1f} s after the kill")

            async def all_active() -> bool:
                async with engine.connect() as conn:
                    left = await conn.scalar(
                        select(func.count()).select_from(Tenant).where(Tenant.status != "active")
                    )
                return left == 0

            await wait_until(all_active, "every accepted tenant is active", 90, poll=0.5)
            print(f"all {len(tenant_ids)} active {time.monotonic() - killed:.1f} s after the kill")
            runs = await runs_per_tenant(client, settings.temporal_task_queue, tenant_ids)
            assert runs == dict.fromkeys(tenant_ids, 1)
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
                assert (await http.get("/ready")).status_code == 200
    except BaseException:
        for run in range(1, api.runs + 1):
            print(f"--- api-{run}.log\n{dump(tmp_path / f'api-{run}.log')}")
        raise
    finally:
        await engine.dispose()


async def _at_least(value: int, threshold: int) -> bool:
    return value >= threshold


async def _more(count: Any, threshold: int) -> bool:
    return bool(await count() >= threshold)


async def _tenant_ids(engine: Any) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.scalars(select(Tenant.id))).all())
