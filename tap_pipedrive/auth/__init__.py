"""Authentication: a registry of methods filled by pluggy hook implementations."""

from tap_pipedrive.auth.base import AuthMethod, Connection
from tap_pipedrive.auth.hookspecs import hookimpl

__all__ = ["AuthMethod", "Connection", "hookimpl"]
