"""Public signup: creates the tenant and its owner and starts provisioning."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response

from api.deps import ClientHost, Signup
from api.schemas import SignupAccepted, SignupReplayed, SignupRequest, problem_responses

router = APIRouter(tags=["signup"])


@router.post(
    "/public/signup/start",
    status_code=202,
    response_model=SignupAccepted,
    responses={
        200: {"model": SignupReplayed, "description": "Same payload already signed up (replay)"},
        **problem_responses(409, 413, 415, 422, 429, 503),
    },
)
async def start_signup(
    body: SignupRequest,
    signup: Signup,
    client_host: ClientHost,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
) -> Response:
    """Sign a club up: 202 with the tenant's token; provisioning continues asynchronously."""
    reply = await signup.start(body.to_signup(), idempotency_key, client_host=client_host)
    return Response(
        reply.content,
        status_code=reply.status_code,
        headers=reply.headers,
        media_type="application/json",
    )
