"""Syston provisioning: durable tenant sign-up and provisioning on Temporal."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("syston-provisioning")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
