"""The `syston` command and the developer tooling behind it (dev stack, smoke, logs, ops).

The top layer: it may import everything else, and nothing imports it.
"""

from syston.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
