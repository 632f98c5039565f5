"""`syston worker` serves its provisioning metrics on WORKER_METRICS_PORT and the Temporal
SDK's worker metrics on TEMPORAL_METRICS_BIND (what compose's health check and Prometheus use)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from tests.support.cli import clean_environ, free_port, run_syston


def wait_for_metrics(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the worker exited"
        try:
            response = httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            return response.text
    pytest.fail(f"nothing served at {url}")


def test_worker_serves_its_metrics_and_the_sdks(tmp_path: Path, temporal_client: Client) -> None:
    env = clean_environ(tmp_path / "data") | {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'syston.db'}",
        "TEMPORAL_ADDRESS": temporal_client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": "metrics-endpoint-test",
        "WORKER_METRICS_PORT": str(free_port()),
        "TEMPORAL_METRICS_BIND": f"127.0.0.1:{free_port()}",
    }
    assert run_syston("migrate", env=env, cwd=tmp_path).returncode == 0
    worker = subprocess.Popen(
        [sys.executable, "-m", "syston.cli", "worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        own = wait_for_metrics(f"http://127.0.0.1:{env['WORKER_METRICS_PORT']}/metrics", worker)
        assert "# HELP syston_provision_step_total" in own
        assert "# HELP syston_provision_duration_seconds" in own
        assert "syston_intake_pending 0.0" in own  # its intake relay ran a pass
        assert "# HELP syston_intake_relayed_total" in own
        sdk = wait_for_metrics(f"http://{env['TEMPORAL_METRICS_BIND']}/metrics", worker)
        assert "temporal_" in sdk
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
