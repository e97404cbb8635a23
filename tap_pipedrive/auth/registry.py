"""The tap-owned registry that maps an `auth_method` name to its implementation."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_pipedrive.auth.base import AuthMethod
from tap_pipedrive.errors import ConfigError


class AuthRegistry:
    def __init__(self) -> None:
        self._methods: dict[str, AuthMethod] = {}

    def register(self, method: AuthMethod) -> None:
        """The callback handed to `register_auth_methods` hooks; refuses a name taken twice."""
        if not isinstance(method, AuthMethod):
            raise TypeError(f"{method!r} is not an AuthMethod instance")
        if method.name in self._methods:
            taken = type(self._methods[method.name])
            raise ValueError(
                f"auth method {method.name!r} is registered twice: by "
                f"{taken.__module__}.{taken.__name__} and "
                f"{type(method).__module__}.{type(method).__name__}"
            )
        self._methods[method.name] = method

    def names(self) -> list[str]:
        return sorted(self._methods)

    def get(self, name: str) -> AuthMethod:
        try:
            return self._methods[name]
        except KeyError:
            raise ConfigError(
                f"unknown auth_method {name!r}; available: {', '.join(self.names())}"
            ) from None

    def settings(self) -> list[th.Property]:
        """Every method's settings, each name once (first registration wins)."""
        seen: dict[str, th.Property] = {}
        for name in self.names():
            for prop in self._methods[name].settings:
                seen.setdefault(prop.name, prop)
        return list(seen.values())
