"""Request ids across Temporal, and per-activity timing for the worker's metrics.

    API request (request_id=abc) ──start_workflow / signal, header `syston-request-id: abc`──▶
    ProvisionTenant run (remembers the id from its start or its latest `retry` signal)
        ──every activity it schedules carries the header──▶ activity: request_id_var = abc

So the worker's log lines for a tenant's provisioning carry the id of the API request that
started (or re-queued) it, and `syston logs` can join them. Without a header (a run started
from the Temporal UI) activities use the workflow id. Headers are part of the history, so the
workflow side stays deterministic: it only copies a value from its inputs to its commands.
"""

from __future__ import annotations

import time
from typing import Any, Final

import temporalio.client
import temporalio.worker
import temporalio.workflow
from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.converter import default as default_converter
from temporalio.exceptions import ApplicationError

from syston.core.logs import event_sink_var, request_id_var
from syston.core.metrics import WorkerMetrics

HEADER: Final = "syston-request-id"


def _encode(value: str) -> Payload:
    return default_converter().payload_converter.to_payloads([value])[0]


def _decode(headers: Any) -> str | None:
    payload = headers.get(HEADER) if headers else None
    if payload is None:
        return None
    try:
        value = default_converter().payload_converter.from_payloads([payload], [str])[0]
    except Exception:
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 128 else None


def _with_request_id(headers: Any, request_id: str | None) -> Any:
    if not request_id:
        return headers
    return {**(headers or {}), HEADER: _encode(request_id)}


# -- client side (the API) -------------------------------------------------------------------


class ClientRequestIds(temporalio.client.Interceptor):
    """Puts the current request id on workflow starts and signals."""

    def intercept_client(
        self, next: temporalio.client.OutboundInterceptor
    ) -> temporalio.client.OutboundInterceptor:
        return _ClientOutbound(next)


class _ClientOutbound(temporalio.client.OutboundInterceptor):
    async def start_workflow(
        self, input: temporalio.client.StartWorkflowInput
    ) -> temporalio.client.WorkflowHandle[Any, Any]:
        input.headers = _with_request_id(input.headers, request_id_var.get())
        return await super().start_workflow(input)

    async def signal_workflow(self, input: temporalio.client.SignalWorkflowInput) -> None:
        input.headers = _with_request_id(input.headers, request_id_var.get())
        await super().signal_workflow(input)


def with_request_ids(client: temporalio.client.Client) -> temporalio.client.Client:
    """The same connection, with `ClientRequestIds` added unless it is already there."""
    config = client.config()
    interceptors = list(config["interceptors"])
    if any(isinstance(i, ClientRequestIds) for i in interceptors):
        return client
    config["interceptors"] = [*interceptors, ClientRequestIds()]
    return temporalio.client.Client(**config)


# -- worker side -----------------------------------------------------------------------------


class WorkerObservability(temporalio.worker.Interceptor):
    """Carries request ids from workflow to activities; times each activity for the metrics
    and routes the activities' events to the worker's metrics."""

    def __init__(self, metrics: WorkerMetrics | None = None) -> None:
        self._metrics = metrics

    def intercept_activity(
        self, next: temporalio.worker.ActivityInboundInterceptor
    ) -> temporalio.worker.ActivityInboundInterceptor:
        return _ActivityInbound(next, self._metrics)

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return _WorkflowInbound


class _WorkflowInbound(temporalio.worker.WorkflowInboundInterceptor):
    request_id: str | None = None

    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound, self))

    async def execute_workflow(self, input: temporalio.worker.ExecuteWorkflowInput) -> Any:
        self.request_id = _decode(input.headers)
        return await super().execute_workflow(input)

    async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
        # A re-queue's `retry` signal: what runs next belongs to that request.
        self.request_id = _decode(input.headers) or self.request_id
        await super().handle_signal(input)


class _WorkflowOutbound(temporalio.worker.WorkflowOutboundInterceptor):
    def __init__(
        self, next: temporalio.worker.WorkflowOutboundInterceptor, inbound: _WorkflowInbound
    ) -> None:
        super().__init__(next)
        self._inbound = inbound

    def start_activity(
        self, input: temporalio.worker.StartActivityInput
    ) -> temporalio.workflow.ActivityHandle[Any]:
        input.headers = _with_request_id(input.headers, self._inbound.request_id)
        return super().start_activity(input)

    def start_local_activity(
        self, input: temporalio.worker.StartLocalActivityInput
    ) -> temporalio.workflow.ActivityHandle[Any]:
        # local activities (mark_active; begin_provisioning in runs of shape 1): their lines
        # carry the request id too
        input.headers = _with_request_id(input.headers, self._inbound.request_id)
        return super().start_local_activity(input)


class _ActivityInbound(temporalio.worker.ActivityInboundInterceptor):
    def __init__(
        self, next: temporalio.worker.ActivityInboundInterceptor, metrics: WorkerMetrics | None
    ) -> None:
        super().__init__(next)
        self._metrics = metrics

    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        info = activity.info()
        request_id_var.set(_decode(input.headers) or info.workflow_id)
        if self._metrics is None:
            return await super().execute_activity(input)
        event_sink_var.set(self._metrics.on_event)
        started = time.monotonic()
        outcome = "retrying"
        try:
            result = await super().execute_activity(input)
        except ApplicationError as exc:
            outcome = "failed" if exc.non_retryable else "retrying"
            raise
        except BaseException:
            outcome = "retrying"  # retried by Temporal (or cancelled with the worker)
            raise
        else:
            outcome = "completed"
            return result
        finally:
            self._metrics.observe_step(info.activity_type, outcome, time.monotonic() - started)
