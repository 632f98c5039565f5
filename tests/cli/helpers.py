"""Moved to `tests.support.cli`; re-exported for tests that import it from here."""

from tests.support.cli import clean_environ, free_port, run_syston, setting_env_names

__all__ = ["clean_environ", "free_port", "run_syston", "setting_env_names"]
