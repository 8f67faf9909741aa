"""The agent's own exceptions: libvirt codes and API payload errors become these."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AgentError",
    "ApiError",
    "ConfigError",
    "ConnectionLost",
    "DomainNotFound",
    "FieldProblem",
    "LockedError",
    "TransportError",
    "VirtError",
]


class AgentError(Exception):
    """Base of every error the agent expects and reports."""


class ConfigError(AgentError):
    """The agent's own configuration is unusable (token, URL, state dir)."""


class LockedError(AgentError):
    """Another agent holds the state directory's lock."""


class VirtError(AgentError):
    """libvirt refused an operation; ``code`` is libvirt's error code (or None)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ConnectionLost(VirtError):
    """The connection to libvirtd is gone (libvirtd restarted, socket closed): not the
    operation's fault. The agent reconnects and carries on with the same window."""


class DomainNotFound(VirtError):
    """No domain of that name on this hypervisor."""

    def __init__(self, name: str, code: int | None = None) -> None:
        super().__init__(f"domain {name!r} not found", code)
        self.name = name


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class ApiError(AgentError):
    """The API answered with an error: a payload union member (``kind`` is its typename:
    ValidationError, NotFound, PermissionDenied) or a GraphQL/HTTP error."""

    def __init__(self, kind: str, message: str, fields: list[FieldProblem] | None = None) -> None:
        self.kind = kind
        self.message = message
        self.fields = list(fields or [])
        super().__init__(str(self))

    def __str__(self) -> str:
        extra = "; ".join(f"{f.field}: {f.message}" for f in self.fields)
        return f"{self.kind}: {self.message}" + (f" ({extra})" if extra else "")


class TransportError(ApiError):
    """The API could not be reached (after retries) or answered garbage."""

    def __init__(self, message: str) -> None:
        super().__init__("TransportError", message)
