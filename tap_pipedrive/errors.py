"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""

from __future__ import annotations


class TapPipedriveError(Exception):
    """An error with a message written for the user; never carries a secret."""


class ConfigError(TapPipedriveError):
    """The configuration is missing something or holds a value that cannot work."""


class AuthError(TapPipedriveError):
    """Authentication failed or cannot be attempted with what is configured."""


class APIError(TapPipedriveError):
    """Pipedrive answered with an error that retrying will not fix."""
