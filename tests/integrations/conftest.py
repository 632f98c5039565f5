"""Fixtures: a running emulator server (reset per test) and a dev service-account key."""

from tests.support.emulator_server import (  # noqa: F401 - pytest fixtures
    emulator,
    emulator_server,
    service_account_key,
)
