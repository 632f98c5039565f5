"""The production shape on one machine, without containers (scripts/production-shape.sh).

    clients (127.0.0.2…) ─▶ proxy (sets X-Forwarded-For) ─┬▶ syston api :A ─┐
                                                          └▶ syston api :B ─┤── PostgreSQL
                            syston worker x2 ─── Temporal (dev server) ─────┘

Two API processes and two workers on a fresh PostgreSQL database, against the Temporal dev
server, the emulators standing in for Google and Make, behind a small reverse proxy that the
APIs trust through FORWARDED_ALLOW_IPS. A burst of signups from distinct client addresses
(each client binds its own loopback address) must be rate-limited per client — the limit
shared by both replicas, a client's own X-Forwarded-For ignored — and every accepted tenant
must reach `active`. Prints what it saw; exit status 0 when all of that held.

Needs PostgreSQL at $SYSTON_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres) and
the virtualenv (`make setup`). Starts and stops everything itself; nothing outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path

import asyncpg
import httpx

from syston.cli.temporal_server import search_attributes_registered, wait_for_port
from syston.tokens import TokenService

HOST = "127.0.0.1"
PG_ADMIN = os.environ.get("SYSTON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
LIMIT = 3  # signups per client per minute
CLIENTS = 6  # distinct client addresses, 127.0.0.2 …
PER_CLIENT = LIMIT + 2  # so each client is refused twice
SECRET = "production-shape-" + "s" * 32
STARTUP = 90.0
ACTIVE_WITHIN = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Processes:
    """The children, each in its own process group, output to a file; all stopped at exit."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.out").open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "syston.cli", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children.append((name, process))
        return process

    def run(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "syston.cli", *args], env=self.env, check=True)

    def check_alive(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited ({process.returncode}):\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        text = (self.folder / f"{name}.out").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        for _, process in reversed(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.children:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def serve_proxy(port: int, backends: list[int]) -> dict[int, int]:
    """A tiny reverse proxy: round-robin, appends the peer to X-Forwarded-For. Returns the
    number of requests each backend got (updated as it runs)."""
    served = dict.fromkeys(backends, 0)
    turn = count()
    lock = threading.Lock()

    class Proxy(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            with lock:
                backend = backends[next(turn) % len(backends)]
                served[backend] += 1
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            chain = [self.headers.get("X-Forwarded-For"), self.client_address[0]]
            headers["X-Forwarded-For"] = ", ".join(h for h in chain if h)
            upstream = http.client.HTTPConnection(HOST, backend, timeout=30)
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            upstream.close()

        do_GET = do_POST = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, port), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return served


async def create_database() -> tuple[str, str]:
    name = f"syston_shape_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def signup_burst(proxy: str) -> tuple[dict[str, list[int]], list[str]]:
    """Each client (its own loopback address) signs up PER_CLIENT times; one of its requests
    claims another address in X-Forwarded-For, which must not help it."""
    if time.gmtime().tm_sec > 45:  # keep the burst inside one rate-limit window
        time.sleep(61 - time.gmtime().tm_sec)
    answers: dict[str, list[int]] = {}
    tenants: list[str] = []

    def client(n: int) -> None:
        address = f"127.0.0.{n + 2}"
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(transport=transport, base_url=proxy, timeout=30) as api:
            for i in range(PER_CLIENT):
                headers = {"X-Forwarded-For": f"198.51.100.{i}"} if i == LIMIT else {}
                plan = "pro" if (n + i) % 2 else "starter"
                slug = f"shape-{n}-{i}-{uuid.uuid4().hex[:6]}"
                body = {"clubName": slug, "clubSlug": slug, "email": f"{slug}@example.org"}
                response = api.post(
                    "/public/signup/start", json=body | {"plan": plan}, headers=headers
                )
                answers.setdefault(address, []).append(response.status_code)
                if response.status_code == 202:
                    tenants.append(response.json()["tenantId"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, tenants


def wait_until_active(proxy: str, tenants: list[str], processes: Processes) -> float:
    admin = TokenService([SECRET.encode()], "syston.app").issue_admin("shape")
    headers = {"Authorization": f"Bearer {admin}"}
    started = time.monotonic()
    pending = set(tenants)
    with httpx.Client(base_url=proxy, headers=headers, timeout=10) as api:
        while pending and time.monotonic() - started < ACTIVE_WITHIN:
            processes.check_alive()
            for tenant in sorted(pending):
                status = api.get(f"/api/v1/tenants/{tenant}/provision-status").json()["status"]
                if status == "active":
                    pending.discard(tenant)
                elif status == "failed":
                    raise SystemExit(f"{tenant} failed")
            time.sleep(0.5)
    if pending:
        raise SystemExit(f"{len(pending)} tenants not active after {ACTIVE_WITHIN:.0f} s")
    return time.monotonic() - started


def environment(database_url: str, temporal: int, emulator: int, folder: Path) -> dict[str, str]:
    from emulators.dev_key import write_dev_key
    from emulators.state import DEV_DRIVE_FOLDER_ID

    write_dev_key(folder / "key.json", f"http://{HOST}:{emulator}/token")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SYSTON_"))}
    return keep | {
        "SYSTON_DATA_DIR": str(folder),
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": f"{HOST}:{temporal}",
        "TEMPORAL_CONFIG_FILE": str(folder / "no-profile.toml"),
        "JWT_SECRET": SECRET,
        "GOOGLE_SERVICE_ACCOUNT_KEY": str(folder / "key.json"),
        "GOOGLE_API_ENDPOINT": f"http://{HOST}:{emulator}",
        "GOOGLE_DRIVE_FOLDER_ID": DEV_DRIVE_FOLDER_ID,
        "MAKE_WEBHOOK_URL": f"http://{HOST}:{emulator}/make/hooks/shape",
        "SIGNUP_RATE_LIMIT": f"{LIMIT}/minute",
        "FORWARDED_ALLOW_IPS": HOST,  # the proxy
        "LOG_FILE": str(folder / "syston.log"),
        "PYTHONUNBUFFERED": "1",
    }


def start_stack(processes: Processes, ports: dict[str, int], folder: Path) -> list[int]:
    temporal = processes.start(
        "temporal", "temporal", "--port", str(ports["temporal"]), "--headless",
        "--db-filename", str(folder / "temporal.db"), "--log-level", "error",
    )  # fmt: skip
    emulators = processes.start("emulators", "emulators", "--port", str(ports["emulators"]))
    processes.run("migrate")
    for process, port in ((temporal, ports["temporal"]), (emulators, ports["emulators"])):
        wait_for_port(HOST, port, STARTUP, keep_waiting=lambda p=process: p.poll() is None)
    deadline = time.monotonic() + STARTUP
    while not search_attributes_registered(f"{HOST}:{ports['temporal']}"):
        if time.monotonic() > deadline:
            raise SystemExit("Temporal did not register the search attributes")
        time.sleep(0.3)
    apis = [free_port(), free_port()]
    for n in (1, 2):
        processes.start(f"worker-{n}", "worker")
    for n, port in enumerate(apis, 1):
        processes.start(f"api-{n}", "api", "--host", HOST, "--port", str(port))
    for port in apis:
        deadline = time.monotonic() + STARTUP
        while True:
            processes.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{HOST}:{port}/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the API on :{port} was not ready")
            time.sleep(0.3)
    return apis


def check_burst(answers: dict[str, list[int]]) -> None:
    for address, codes in sorted(answers.items()):
        accepted, limited = codes.count(202), codes.count(429)
        print(f"  client {address}: {accepted} accepted, {limited} rate-limited  {codes}")
        if (accepted, limited) != (LIMIT, PER_CLIENT - LIMIT):
            raise SystemExit(f"client {address} was not limited to {LIMIT}/minute: {codes}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="syston-shape-") as scratch:
        folder = Path(scratch)
        name, database_url = asyncio.run(create_database())
        ports = {"temporal": free_port(), "emulators": free_port(), "proxy": free_port()}
        env = environment(database_url, ports["temporal"], ports["emulators"], folder)
        processes = Processes(folder, env)
        try:
            apis = start_stack(processes, ports, folder)
            served = serve_proxy(ports["proxy"], apis)
            proxy = f"http://{HOST}:{ports['proxy']}"
            print(f"production shape: 2 APIs {apis}, 2 workers, PostgreSQL {name}, proxy {proxy}")
            answers, tenants = signup_burst(proxy)
            check_burst(answers)
            print(f"  {len(tenants)} tenants accepted; requests per API: {served}")
            seconds = wait_until_active(proxy, tenants, processes)
            print(f"  all {len(tenants)} tenants active {seconds:.1f} s after the burst")
            if min(served.values()) == 0:
                raise SystemExit("the proxy did not reach both APIs")
        except BaseException:
            for child, _ in processes.children:
                print(f"--- {child} ---\n{processes.tail(child)}", file=sys.stderr)
            raise
        finally:
            processes.stop()
            asyncio.run(drop_database(name))
    print("production shape: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
