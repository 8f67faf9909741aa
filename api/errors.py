"""Domain errors: expected failures carry data, never strings to be parsed later."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Conflict",
    "FensterError",
    "FieldError",
    "IllegalTransition",
    "NotFound",
    "PermissionDenied",
    "ValidationError",
]


class FensterError(Exception):
    """Base class of every expected failure fenster reports to a user."""

    code = "error"
    exit_code = 2  # what `fenster` exits with when a command stops on it


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ValidationError(FensterError):
    """One or more values were refused; ``errors`` names every offending field."""

    code = "validation"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))

    @classmethod
    def single(cls, field: str, message: str) -> ValidationError:
        return cls([FieldError(field, message)])


class NotFound(FensterError):
    code = "not_found"

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} does not exist")


class PermissionDenied(FensterError):
    code = "permission_denied"

    def __init__(self, message: str = "you may not do this") -> None:
        super().__init__(message)


class Conflict(FensterError):
    code = "conflict"


class IllegalTransition(FensterError):
    """A state machine refused a move; nothing was changed."""

    code = "illegal_transition"

    def __init__(self, machine: str, current: str, wanted: str, allowed: frozenset[str]) -> None:
        self.machine = machine
        self.current = current
        self.wanted = wanted
        self.allowed = allowed
        choices = ", ".join(sorted(allowed)) or "nothing (final state)"
        super().__init__(
            f"a {machine} in state '{current}' cannot become '{wanted}'; allowed: {choices}"
        )
