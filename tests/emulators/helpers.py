"""Moved to `tests.support.emulator_auth`; re-exported for tests that import it from here."""

from tests.support.emulator_auth import JWT_BEARER, access_token, assertion, authed_client

__all__ = ["JWT_BEARER", "access_token", "assertion", "authed_client"]
