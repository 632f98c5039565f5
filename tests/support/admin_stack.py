"""The admin tests' names for the harness: `AdminStack` is a `Stack` opened by the
`start_admin_stack` / `admin_stack` fixtures (tests/conftest.py) with a `FakeResolver` for the
webhook URL policy and no worker unless asked.

The fixtures used to live here; a module that still lists this one in `pytest_plugins` keeps
working (the fixtures now come from tests/conftest.py)."""

from __future__ import annotations

from tests.support.resolver import PUBLIC_ADDRESS, FakeResolver
from tests.support.stack import Stack, StartStack

AdminStack = Stack

__all__ = ["PUBLIC_ADDRESS", "AdminStack", "FakeResolver", "StartStack"]
