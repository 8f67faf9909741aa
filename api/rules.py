"""The seed announcement's rules, in one place, with messages a customer understands.

Every function here is pure: it takes plain values and either returns normally or raises
:class:`api.errors.ValidationError` naming every offending field. Services call these before
writing; the models call them again in ``save()`` so no path through the ORM skips them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from typing import TypeGuard

import pytz

from api.errors import FieldError, ValidationError

__all__ = [
    "ARCHES",
    "CORE_PRICE_EUR",
    "GUEST_MACHINE_KINDS",
    "MACHINE_KINDS",
    "MAX_CONTACTS",
    "MAX_CORES",
    "MAX_I686_MEMORY_MIB",
    "MAX_MEMORY_MIB",
    "MAX_ROLLOUT_BODY",
    "MAX_ROLLOUT_TITLE",
    "MAX_WINDOW_MINUTES",
    "MIN_MEMORY_MIB",
    "MIN_SWAP_MIB",
    "MIN_WINDOW_MINUTES",
    "Collector",
    "GuestFlag",
    "GuestWarning",
    "check_contacts",
    "check_group",
    "check_machine",
    "check_name",
    "check_timezone",
    "common_timezones",
    "guest_warnings",
    "monthly_price_eur",
    "rollout_text_problems",
]

MIN_WINDOW_MINUTES = 15
MAX_CONTACTS = 20  # every change to a group mails each of them
MAX_WINDOW_MINUTES = 24 * 60
MAX_CORES = 12
MAX_I686_MEMORY_MIB = 4096
MIN_SWAP_MIB = 1024
MIN_MEMORY_MIB = 256
# No machine has more than 16 TiB (what inventory reports accept); a VM's own ceiling is
# the lower of FENSTER_MAX_VM_MEMORY_MIB and its host's memory (check_machine's memory_cap).
MAX_MEMORY_MIB = 16 * 1024 * 1024
CORE_PRICE_EUR = 25
MACHINE_KINDS = ("infrastructure", "host", "vm")
# the machines a guest agent runs in (their system update happens inside them): the customers'
# VMs and the provider's own infrastructure machines (the rollouts' first wave)
GUEST_MACHINE_KINDS = ("infrastructure", "vm")
ARCHES = ("x86_64", "i686")
MAX_ROLLOUT_TITLE = 200  # the column's length
MAX_ROLLOUT_BODY = 100_000  # characters of Markdown
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Every pattern is used with fullmatch: '$' also matches before a final newline, and a group
# named "sec-nl\n" ended the header block of the settings mail early.
# A pragmatic address check: one @, a local part without spaces, a dotted domain of DNS labels.
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class Collector:
    """Gathers field errors so one call reports every problem at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


# Names that stand for something else in URLs (/feeds/all.ics is the operators' feed).
RESERVED_NAMES = frozenset({"all"})


def _name_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "is required"
    if value in RESERVED_NAMES:
        return f"'{value}' is reserved; choose another name"
    if len(value) > 63:
        return "must be at most 63 characters (a DNS label)"
    if not _LABEL.fullmatch(value):
        return (
            "may contain only lower-case letters a-z, digits and '-', "
            "and must start and end with a letter or digit"
        )
    return None


def check_name(value: object, field: str = "name") -> None:
    problem = _name_problem(value)
    if problem:
        raise ValidationError.single(field, problem)


def _address_problem(address: object) -> str | None:
    if not isinstance(address, str) or not address.strip():
        return "is empty"
    if address != address.strip() or any(c.isspace() for c in address):
        return f"'{address}' contains white space"
    if address.count("@") != 1:
        return f"'{address}' is not an email address (it needs exactly one @)"
    local, domain = address.split("@")
    if not _LOCAL.fullmatch(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        return f"'{address}' has an invalid part before the @"
    labels = domain.split(".")
    if (
        len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(lbl) for lbl in labels)
        or len(domain) > 253
    ):
        return f"'{address}' has an invalid domain"
    return None


def check_contacts(contacts: object, field: str = "contacts") -> None:
    c = Collector()
    _contacts_into(c, contacts, field)
    c.raise_if_any()


def _contacts_into(c: Collector, contacts: object, field: str) -> None:
    if not isinstance(contacts, list | tuple) or not contacts:
        c.add(field, "at least one technical contact address is required")
        return
    if len(contacts) > MAX_CONTACTS:
        c.add(field, f"at most {MAX_CONTACTS} technical contact addresses")
        return
    seen: set[str] = set()
    for i, address in enumerate(contacts):
        problem = _address_problem(address)
        if problem:
            c.add(f"{field}[{i}]", problem)
        elif address.lower() in seen:
            c.add(f"{field}[{i}]", f"'{address}' is listed twice")
        else:
            seen.add(address.lower())


def _timezone_problem(name: object) -> str | None:
    if not isinstance(name, str) or not name:
        return "is required"
    if name in _valid_zones():
        return None
    return f"'{name}' is not a known IANA timezone (for example Europe/Berlin)"


def _valid_zones() -> frozenset[str]:
    """The IANA tz database's names as pytz carries them: no 'localtime' (which follows the
    server's own zone) and no 'Factory'."""
    return pytz.all_timezones_set


def common_timezones() -> list[str]:
    """The zones to offer in a picker (pytz.common_timezones)."""
    return list(pytz.common_timezones)


def check_timezone(name: object, field: str = "timezone") -> None:
    problem = _timezone_problem(name)
    if problem:
        raise ValidationError.single(field, problem)


def check_group(
    *,
    name: object,
    contacts: object,
    timezone: object,
    window_start: object,
    window_minutes: object,
    weekdays: object,
    notice_minutes: object,
    reminder_minutes: object = 0,
    max_postpones: object = 0,
) -> None:
    """Check every policy field of a resource group at once."""
    c = Collector()
    if problem := _name_problem(name):
        c.add("name", problem)
    _contacts_into(c, contacts, "contacts")
    if problem := _timezone_problem(timezone):
        c.add("timezone", problem)
    if not isinstance(window_start, time):
        c.add("window_start", "must be a local time of day such as 02:00")
    elif window_start.second or window_start.microsecond or window_start.tzinfo:
        c.add("window_start", "must be whole minutes of local time, without a timezone")
    if not _is_int(window_minutes) or not (
        MIN_WINDOW_MINUTES <= window_minutes <= MAX_WINDOW_MINUTES
    ):
        c.add(
            "window_minutes",
            f"the daily window must last between {MIN_WINDOW_MINUTES} minutes and 24 hours "
            f"(got {window_minutes!r} minutes)",
        )
    if (
        not isinstance(weekdays, list | tuple)
        or not weekdays
        or not all(_is_int(d) and 0 <= d <= 6 for d in weekdays)
    ):
        c.add("weekdays", "choose at least one weekday, 0 (Monday) to 6 (Sunday)")
    elif len(set(weekdays)) != len(weekdays):
        c.add("weekdays", "each weekday may be listed once")
    if not _is_int(notice_minutes) or notice_minutes < 0:
        c.add("notice_minutes", "the notice period cannot be negative")
    if not _is_int(reminder_minutes) or reminder_minutes < 0:
        c.add("reminder_minutes", "the reminder lead time cannot be negative")
    if not _is_int(max_postpones) or max_postpones < 0:
        c.add("max_postpones", "cannot be negative")
    c.raise_if_any()


def check_machine(
    *,
    name: object,
    kind: object,
    arch: object,
    cores: object,
    memory_mib: object,
    swap_mib: object,
    has_host: bool,
    host_kind: str | None = None,
    memory_cap: tuple[int, str] | None = None,
) -> None:
    """Check a machine's desired configuration against the seed's limits. ``memory_cap``:
    (MiB, why) the most a VM may have here (configured maximum, its host's memory)."""
    c = Collector()
    if problem := _name_problem(name):
        c.add("name", problem)
    if kind not in MACHINE_KINDS:
        c.add("kind", f"must be one of {', '.join(MACHINE_KINDS)}")
    if arch not in ARCHES:
        c.add("arch", f"must be one of {', '.join(ARCHES)}")
    if not _is_int(cores) or cores < 1:
        c.add("cores", f"must be a whole number of cores, at least 1 (got {cores!r})")
    elif kind == "vm" and cores > MAX_CORES:
        c.add("cores", f"a VM has 1 to {MAX_CORES} cores (got {cores})")
    if not _is_int(memory_mib) or memory_mib < MIN_MEMORY_MIB:
        c.add("memory_mib", f"memory must be at least {MIN_MEMORY_MIB} MiB (got {memory_mib!r})")
    elif arch == "i686" and memory_mib > MAX_I686_MEMORY_MIB:
        c.add(
            "memory_mib",
            f"a 32-bit (i686) VM holds at most {MAX_I686_MEMORY_MIB} MiB of memory "
            f"(got {memory_mib} MiB)",
        )
    elif memory_mib > MAX_MEMORY_MIB:
        c.add("memory_mib", f"at most {MAX_MEMORY_MIB} MiB (16 TiB) (got {memory_mib} MiB)")
    elif kind == "vm" and memory_cap is not None and memory_mib > memory_cap[0]:
        c.add("memory_mib", f"at most {memory_cap[0]} MiB, {memory_cap[1]} (got {memory_mib} MiB)")
    if not _is_int(swap_mib) or swap_mib < 0:
        c.add("swap_mib", f"must be a whole number of MiB (got {swap_mib!r})")
    elif kind == "vm" and swap_mib < MIN_SWAP_MIB:
        c.add("swap_mib", f"every VM gets at least {MIN_SWAP_MIB} MiB of swap (got {swap_mib})")
    if kind == "vm" and not has_host:
        c.add("host", "a VM must be placed on a host")
    if kind != "vm" and has_host:
        c.add("host", "only a VM is placed on a host")
    if kind == "vm" and has_host and host_kind is not None and host_kind != "host":
        c.add("host", "a VM can only be placed on a machine of kind 'host'")
    c.raise_if_any()


def rollout_text_problems(
    title: str | None, body: str | None, target: str | None, kernel: str | None
) -> list[FieldError]:
    """A rollout's texts (None: not given): a one-line title, the body's, kernel's and
    target's lengths."""
    errors = []
    if title is not None and (not title.strip() or len(title) > MAX_ROLLOUT_TITLE or "\n" in title):
        errors.append(FieldError("title", f"one line of 1 to {MAX_ROLLOUT_TITLE} characters"))
    if body is not None and len(body) > MAX_ROLLOUT_BODY:
        errors.append(FieldError("body", f"at most {MAX_ROLLOUT_BODY} characters"))
    if len(kernel or "") > 64 or len(target or "") > 200:
        errors.append(FieldError("kernel", "at most 64 characters (target: 200)"))
    return errors


def monthly_price_eur(kind: str, cores: int) -> int:
    """25 EUR a month for every core beyond the first (VMs only)."""
    if kind != "vm":
        return 0
    return CORE_PRICE_EUR * max(0, cores - 1)


class GuestFlag(StrEnum):
    """What operators are shown about a VM from its guest agent's report."""

    SWAP_BELOW_MINIMUM = "swap_below_minimum"  # "All VMs now get at least 1GB of swap space."
    CPU_MODEL_MISMATCH = "cpu_model_mismatch"  # "the actual physical CPU identification"


@dataclass(frozen=True, slots=True)
class GuestWarning:
    flag: GuestFlag
    message: str


# what a guest sees when its host hides the physical CPU (compared without case)
GENERIC_CPU = "qemu virtual cpu"


def guest_warnings(
    *, swap_mib: int | None, guest_cpu_model: str | None, host_cpu_model: str | None
) -> list[GuestWarning]:
    """The seed's promises a guest agent's report shows broken: swap below MIN_SWAP_MIB, and
    a CPU model other than the host's physical one (or the generic QEMU one). Nothing
    reported, nothing flagged."""
    found = []
    if swap_mib is not None and swap_mib < MIN_SWAP_MIB:
        found.append(
            GuestWarning(
                GuestFlag.SWAP_BELOW_MINIMUM,
                f"the guest has {swap_mib} MiB of swap; every VM gets at least {MIN_SWAP_MIB} MiB",
            )
        )
    if guest_cpu_model is not None:
        seen = " ".join(guest_cpu_model.split())
        if seen.lower().startswith(GENERIC_CPU):
            found.append(
                GuestWarning(
                    GuestFlag.CPU_MODEL_MISMATCH,
                    f"the guest sees the generic '{seen}', not its host's physical CPU",
                )
            )
        elif host_cpu_model is not None and seen != " ".join(host_cpu_model.split()):
            found.append(
                GuestWarning(
                    GuestFlag.CPU_MODEL_MISMATCH,
                    f"the guest sees '{seen}', its host has '{host_cpu_model}'",
                )
            )
    return found


def weekday_names(days: Iterable[int]) -> str:
    return ", ".join(WEEKDAY_NAMES[d] for d in sorted(days))


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def as_list(values: Sequence[object] | None) -> list[object]:
    return list(values or [])
