"""`syston dev`: the whole stack on one machine, supervised.

    syston dev ─┬─ temporal   (`syston temporal`, persistent store in the data dir)
                ├─ emulators  (`syston emulators`, unless real Google and Make are configured)
                ├─ migrate    (`syston migrate`, runs once while the others boot)
                ├─ worker     (`syston worker`)
                └─ api        (`syston api`)

Every child is `python -m syston.cli <component>` with one environment computed here, in its own
session (so a terminal's Ctrl-C reaches only this supervisor, which then stops the children in
order) and tied to this process with PR_SET_PDEATHSIG where the OS has it (so a SIGKILLed
supervisor leaves no orphans). Shutdown: SIGTERM to the API and worker process groups, then to
the emulators and Temporal; SIGKILL for anything still alive after the grace period.

Output (syston.cli.dev_output): a line per component once it is ready, with the time it took;
on a terminal each child's lines prefixed with its name, JSON made readable.

Settings the user did not give get local defaults, each announced: a JWT secret generated once
into `<data_dir>/jwt_secret` (mode 0600), SQLite in the data dir, the emulators for Google, Apps
Script and Make, a log file under `<data_dir>/logs`. Everything lives in the data dir, so running
`syston dev` again resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from syston.cli import temporal_server
from syston.cli.dev_output import (
    READY_POLL_SECONDS,
    Relay,
    Stopwatch,
    banner,
    log_offset,
    prefixing_wanted,
    ready_line,
    wait_for_event,
)
from syston.cli.dev_plan import (
    GRACE_PERIOD,
    HOST,
    QUIET_WORKER_START,
    STARTUP_TIMEOUT,
    SUPERVISOR_PID_VAR,
    DevOptions,
    DevPlan,
    DevStackError,
    plan_dev_stack,
    say,
)

# -- children ----------------------------------------------------------------------------------


def follow_supervisor() -> None:
    """In a child of `syston dev`: ask the kernel for SIGTERM when the supervisor dies.

    Done by the child itself rather than in a `preexec_fn` (unsafe after the supervisor has
    started threads). The setting survives the exec into the Temporal binary. The variable is
    removed so that anything this child starts does not inherit it.
    """
    expected = os.environ.pop(SUPERVISOR_PID_VAR, "")
    if not expected.isdigit() or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    if os.getppid() != int(expected):
        raise SystemExit("syston dev (the supervisor) is gone; not starting")


@dataclass
class Child:
    """One supervised component: a process leading its own process group."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str], relay: bool = False) -> None:
        """Start it; with `relay`, its output goes through a prefixing `Relay`."""
        env = {**env, SUPERVISOR_PID_VAR: str(os.getpid())}
        pipe = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT} if relay else {}
        self.process = subprocess.Popen(
            self.argv,
            env=env,
            start_new_session=True,
            **pipe,  # type: ignore[call-overload]
        )
        if relay and self.process.stdout is not None:
            Relay(self.name, self.process.stdout).start()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)


def component(name: str, *args: str) -> Child:
    return Child(name, [sys.executable, "-m", "syston.cli", name, *args])


# -- the supervisor ----------------------------------------------------------------------------


class DevStack:
    """Starts the children in order, watches them, and stops all of them on the way out."""

    def __init__(self, options: DevOptions, plan: DevPlan) -> None:
        self.options = options
        self.plan = plan
        self.children: list[Child] = []
        self.stop_requested = threading.Event()
        self.signals_received = 0
        self.relay = prefixing_wanted()
        self.clock = Stopwatch()

    # signals ---------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals_received += 1
        if self.signals_received > 1:
            # A second Ctrl-C: the user does not want to wait for a graceful stop.
            for child in self.children:
                child.signal_group(signal.SIGKILL)
        self.stop_requested.set()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    # start -----------------------------------------------------------------------------------

    def check_ports(self) -> None:
        o = self.options
        wanted = [
            (o.api_port, "the API", "--api-port"),
            (o.temporal_port, "Temporal", "--temporal-port"),
            (o.ui_port, "the Temporal UI", "--ui-port"),
        ]
        if self.plan.emulators:
            wanted.append((o.emulator_port, "the emulators", "--emulator-port"))
        seen: dict[int, str] = {}
        for port, what, flag in wanted:
            if port in seen:
                raise DevStackError(f"{what} and {seen[port]} cannot share port {port}", 2)
            seen[port] = what
            if not temporal_server.port_is_free(HOST, port):
                raise DevStackError(
                    f"port {port} (for {what}) is already in use on {HOST}; stop whatever "
                    f"listens there or choose another port with {flag}",
                    exit_code=2,
                )

    def spawn(self, child: Child) -> Child:
        self.clock.start(child.name)
        child.start(self.plan.env, relay=self.relay)
        self.children.append(child)
        return child

    def ready(self, name: str, detail: str = "") -> None:
        say(ready_line(name, self.clock.seconds(name), detail))

    def wait_for_port(self, child: Child, port: int) -> None:
        try:
            temporal_server.wait_for_port(
                HOST,
                port,
                STARTUP_TIMEOUT,
                keep_waiting=lambda: child.alive() and not self.stop_requested.is_set(),
            )
        except InterruptedError:
            if self.stop_requested.is_set():
                raise
            raise DevStackError(self._death_message(child)) from None
        except TimeoutError:
            raise DevStackError(
                f"{child.name} did not open port {port} within {STARTUP_TIMEOUT:.0f} s"
            ) from None

    def wait_for_search_attributes(self) -> None:
        """Temporal registers our search attributes just after it opens its port."""
        address = self.plan.env["TEMPORAL_ADDRESS"]
        namespace = self.plan.env.get("TEMPORAL_NAMESPACE", "default")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.stop_requested.is_set():
            if temporal_server.search_attributes_registered(address, namespace):
                return
            if time.monotonic() > deadline:
                raise DevStackError("Temporal did not register its search attributes")
            self.stop_requested.wait(0.2)

    def run_migrations(self) -> None:
        migrate = self.spawn(component("migrate"))
        while migrate.alive():
            if self.stop_requested.wait(0.1):
                return
        assert migrate.process is not None
        if migrate.process.returncode != 0:
            raise DevStackError(
                f"migrations failed (exit status {migrate.process.returncode}); see above"
            )
        self.children.remove(migrate)
        self.ready("migrate", "database at the newest schema")

    def wait_for_worker(self, worker: Child, log_offset: int) -> None:
        """The worker logs `worker_started` once it polls the task queue (unless LOG_LEVEL is
        above INFO: then it is up once it has stayed alive for QUIET_WORKER_START)."""
        log_file = Path(self.plan.env["LOG_FILE"])

        def alive() -> bool:
            return worker.alive() and not self.stop_requested.is_set()

        if logging.getLevelName(self.plan.log_level) not in (logging.DEBUG, logging.INFO):
            # LOG_LEVEL hides the line this waits for: a worker still alive after a few
            # seconds counts as up (its warnings and errors still show).
            deadline = time.monotonic() + QUIET_WORKER_START
            while alive() and time.monotonic() < deadline:
                time.sleep(READY_POLL_SECONDS)
            if worker.alive() and not self.stop_requested.is_set():
                self.ready(
                    "worker", f"running (LOG_LEVEL={self.plan.log_level} hides its ready line)"
                )
                return
        elif wait_for_event(log_file, log_offset, "worker_started", alive, STARTUP_TIMEOUT):
            self.ready("worker", "polling its task queue")
            return
        if not self.stop_requested.is_set():
            raise DevStackError(
                self._death_message(worker)
                if not worker.alive()
                else f"the worker did not start polling within {STARTUP_TIMEOUT:.0f} s"
            )

    def wait_for_health(self, child: Child) -> None:
        url = f"http://{HOST}:{self.options.api_port}/health"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.stop_requested.is_set():
            if not child.alive():
                raise DevStackError(self._death_message(child))
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise DevStackError(f"the API did not answer {url} within {STARTUP_TIMEOUT:.0f} s")
            time.sleep(0.2)

    def start(self) -> None:
        o = self.options
        db = temporal_server.default_db_filename(self.plan.data_dir)
        temporal = self.spawn(
            component(
                "temporal",
                "--port", str(o.temporal_port),
                "--ui-port", str(o.ui_port),
                "--db-filename", str(db),
                # At `warn` the dev server reports its own shutdown as a burst of failed polls.
                "--log-level", "error",
            )
        )  # fmt: skip
        emulators = None
        if self.plan.emulators:
            emulators = self.spawn(
                component("emulators", "--host", HOST, "--port", str(o.emulator_port))
            )
        self.run_migrations()
        if self.stop_requested.is_set():
            return
        self.wait_for_port(temporal, o.temporal_port)
        self.wait_for_port(temporal, o.ui_port)
        self.wait_for_search_attributes()
        address = self.plan.env["TEMPORAL_ADDRESS"]
        self.ready("temporal", f"{address}, UI http://localhost:{o.ui_port}")
        if emulators is not None:
            self.wait_for_port(emulators, o.emulator_port)
            self.ready("emulators", f"http://{HOST}:{o.emulator_port}")
        offset = log_offset(Path(self.plan.env["LOG_FILE"]))
        worker = self.spawn(component("worker"))
        api = self.spawn(component("api", "--host", HOST, "--port", str(o.api_port)))
        self.wait_for_port(api, o.api_port)
        self.wait_for_health(api)
        self.ready("api", f"http://{HOST}:{o.api_port}")
        self.wait_for_worker(worker, offset)

    # run -------------------------------------------------------------------------------------

    def supervise(self) -> int:
        """Block until a signal (exit 0) or a child's unexpected death (exit 1)."""
        while not self.stop_requested.wait(0.2):
            for child in self.children:
                if not child.alive():
                    say(self._death_message(child) + "; stopping the rest")
                    return 1
        return 0

    def stop(self) -> None:
        """Stop every child: API and worker first (they talk to Temporal), then the rest."""
        order = {"api": 0, "worker": 0, "migrate": 0, "emulators": 1, "temporal": 2}
        stages: dict[int, list[Child]] = {}
        for child in self.children:
            stages.setdefault(order.get(child.name, 0), []).append(child)
        for stage in sorted(stages):
            group = stages[stage]
            for child in group:
                child.signal_group(signal.SIGTERM)
            deadline = time.monotonic() + GRACE_PERIOD
            while any(c.alive() for c in group) and time.monotonic() < deadline:
                time.sleep(0.05)
            for child in group:
                if child.alive():
                    say(f"{child.name} did not stop within {GRACE_PERIOD:.0f} s; killing it")
            for child in group:
                # Also reaps any grandchild left in the group after its leader exited.
                child.signal_group(signal.SIGKILL)
                if child.process is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        child.process.wait(timeout=5)

    def _death_message(self, child: Child) -> str:
        code = child.process.returncode if child.process is not None else None
        how = f"exit status {code}" if code is None or code >= 0 else f"signal {-code}"
        return f"{child.name} (pid {child.pid}) exited unexpectedly ({how})"


def run_dev(options: DevOptions) -> int:
    """`syston dev`: plan, start, print the banner, supervise, stop. Returns the exit status."""
    try:
        plan = plan_dev_stack(options)
    except DevStackError as exc:
        print(f"syston: {exc}", file=sys.stderr)
        return exc.exit_code
    for line in plan.notes:
        say(line)
    stack = DevStack(options, plan)
    try:
        stack.check_ports()
        temporal_server.temporal_binary()  # fail before starting anything
    except (DevStackError, temporal_server.TemporalBinaryMissing) as exc:
        print(f"syston: {exc}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, DevStackError) else 1
    stack.install_signal_handlers()
    status = 0
    try:
        stack.start()
        if not stack.stop_requested.is_set():
            print(banner(options, plan), flush=True)
            status = stack.supervise()
    except DevStackError as exc:
        say(str(exc))
        status = exc.exit_code
    except InterruptedError:
        pass  # a signal arrived while waiting for a port
    finally:
        say("stopping")
        stack.stop()
        say("stopped")
    return status
