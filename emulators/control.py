"""The emulators' control API, for tests and `syston dev` users: inspect, inject faults, reset.

GET    /_emulator/state     spreadsheets, deliveries, request counts, queued faults
POST   /_emulator/faults    queue a fault (`FaultSpec`); 422 on a bad body
GET    /_emulator/faults    the queued faults
DELETE /_emulator/faults    clear the faults
POST   /_emulator/reset     forget everything (the dev Drive folder stays)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from emulators.gate import state_of
from emulators.state import FaultSpec

router = APIRouter(prefix="/_emulator", tags=["control"])


@router.get("/state")
async def get_state(request: Request) -> dict[str, Any]:
    """Everything the emulators remember."""
    return state_of(request).snapshot()


@router.post("/faults", status_code=201)
async def add_fault(request: Request, spec: FaultSpec) -> dict[str, Any]:
    """Queue a fault; the first queued fault matching a request's target applies."""
    state = state_of(request)
    fault = state.add_fault(spec)
    return {"fault": fault.as_json(), "faults": [f.as_json() for f in state.faults]}


@router.get("/faults")
async def list_faults(request: Request) -> dict[str, Any]:
    """The queued faults, in the order they apply."""
    return {"faults": [f.as_json() for f in state_of(request).faults]}


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    """Clear every queued fault."""
    state_of(request).faults.clear()
    return {"faults": []}


@router.post("/reset")
async def reset(request: Request) -> JSONResponse:
    """Forget spreadsheets, deliveries, tokens, request counts and faults."""
    state_of(request).reset()
    return JSONResponse({"ok": True})
