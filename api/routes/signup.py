"""Public signup: creates the tenant and its owner and starts provisioning."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from api.deps import Signup
from api.schemas import SignupAccepted, SignupReplayed, SignupRequest, problem_responses
from syston.core.errors import ServiceError
from syston.core.logs import log_event, mask_email
from syston.signup import SignupData, render, status_url

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
    request: Request,
    body: SignupRequest,
    signup: Signup,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
) -> Response:
    """Sign a club up: 202 with the tenant's token; provisioning continues asynchronously."""
    data = SignupData(
        club_name=body.clubName,
        club_slug=body.clubSlug,
        email=str(body.email),
        plan=body.plan,
        promo_code=body.promoCode,
    )
    limiter = getattr(request.app.state, "signup_limiter", None)
    try:
        if limiter is not None:
            await limiter.check(request)
        outcome = await signup.signup(data, idempotency_key)
    except ServiceError as exc:
        if exc.status < 500:
            log_event(
                "signup_rejected",
                logging.INFO,
                code=exc.code,
                slug=data.club_slug,
                email=mask_email(data.email),
            )
        raise
    log_event(
        outcome.event,
        tenant_id=outcome.tenant_id,
        slug=data.club_slug,
        plan=data.plan,
        email=mask_email(data.email),
        by_key=outcome.replayed_by_key,
    )
    headers = {}
    if outcome.tenant_id and outcome.status_code == 202:
        headers["Location"] = status_url(outcome.tenant_id)
    if outcome.replayed_by_key:
        headers["Idempotent-Replayed"] = "true"
        return Response(
            outcome.raw_body,
            status_code=outcome.status_code,
            headers=headers,
            media_type="application/json",
        )
    return Response(
        render(outcome.body).encode(),
        status_code=outcome.status_code,
        headers=headers,
        media_type="application/json",
    )
