"""The signup's floor: a bare HTTP route that starts `JobFloor`, in a process of its own.

`POST /start` takes the signup's JSON body (parsed into a model of four plain strings: no
validation rules), starts a `JobFloor` run with `start_workflow` and answers 202 with its id.
It is served by the same uvicorn configuration as `syston api` (`api.app.server_config`: h11,
the same limits), so what separates a signup from it is our own work on the request: the
validation, the durable insert, the signed token, the request's log line and metrics.

Run by `bench_provisioning.py` as `python bench/floor_api.py`, with TEMPORAL_ADDRESS and
FLOOR_API_PORT set.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.app import server_config
from bench.floor_worker import TASK_QUEUE
from syston.core.settings import get_settings


class StartRequest(BaseModel):
    clubName: str  # the signup's field names
    clubSlug: str
    email: str
    plan: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.client = await Client.connect(
        os.environ["TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter
    )
    yield


app = FastAPI(lifespan=lifespan, openapi_url=None)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/start", status_code=202)
async def start(body: StartRequest, request: Request) -> JSONResponse:
    workflow_id = f"jobfloor-http-{uuid.uuid4().hex}"
    client: Client = request.app.state.client
    await client.start_workflow("JobFloor", workflow_id, id=workflow_id, task_queue=TASK_QUEUE)
    return JSONResponse({"workflowId": workflow_id, "plan": body.plan}, status_code=202)


def main() -> None:
    port = int(os.environ["FLOOR_API_PORT"])
    uvicorn.Server(server_config(app, get_settings(), host="127.0.0.1", port=port)).run()


if __name__ == "__main__":
    main()
