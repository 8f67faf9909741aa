"""How the scheduler words dates, durations and causes for customers (English,
locale-independent).

Customer-facing texts (window reasons, blocked reasons, mail, feeds, the window page) never
name a VM host or an operator's token: a host name tells one customer about another's
machines, and the token names are the provider's business. This module is their one home;
operators get the names where they read (errors of their own requests, the audit trail)."""

from __future__ import annotations

import re
from datetime import date, datetime

__all__ = [
    "HOST_FULL",
    "audit_actor",
    "day_label",
    "duration_label",
    "host_full",
    "local_label",
    "who",
    "without_host",
]

# a busy host, as customers read it (a summary category and a sentence)
HOST_FULL = "host full"


def host_full(busy: int, host_name: str | None = None) -> str:
    """Why a host has no room; with ``host_name`` only for operators."""
    if host_name is None:
        return "this machine's host already has the most machines in maintenance that it allows"
    vms = "VM" if busy == 1 else "VMs"
    return f"host {host_name} already has {busy} {vms} in maintenance"


def who(by_customer: bool) -> str:
    """Who made a change, in a reason a customer reads."""
    return "the customer" if by_customer else "the operators"


def audit_actor(actor: str) -> str:
    """An audit actor ('<role>:<token name>') as a customer reads it: customers' own tokens by
    name, the operators' and the agents' by their role."""
    role, _, _ = actor.partition(":")
    by_role = {"admin": "the operators", "agent": "the host agent", "guest": "the guest agent"}
    return by_role.get(role, actor)


def without_host(text: str, host_name: str | None) -> str:
    """Text a host agent wrote about a VM ("rebooted with host kvm01"), as the VM's customer
    reads it: the host's name becomes "its host"."""
    if not host_name or not text:
        return text
    name = re.escape(host_name)
    text = re.sub(rf"\bhost {name}\b", "its host", text)
    return re.sub(rf"\b{name}\b", "its host", text)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_label(d: date) -> str:
    """'Tue 1 Dec'."""
    return f"{_DAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]}"


def local_label(dt: datetime, *, year: bool = False) -> str:
    """'Tue 1 Dec 02:00' (or 'Tue 1 Dec 2026 02:00') in ``dt``'s own zone."""
    d = dt.date()
    return f"{day_label(d)}{f' {d.year}' if year else ''} {dt:%H:%M}"


def duration_label(minutes: int) -> str:
    """'7 days', '36 hours', '90 min', '1 day'."""
    if minutes and minutes % 1440 == 0:
        n = minutes // 1440
        return f"{n} day" if n == 1 else f"{n} days"
    if minutes and minutes % 60 == 0:
        n = minutes // 60
        return f"{n} hour" if n == 1 else f"{n} hours"
    return f"{minutes} min"
