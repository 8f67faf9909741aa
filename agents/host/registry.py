"""Which handler carries out each kind: the host agent's registry.

The kinds are ``api.kinds``'s members (each handler's ``kind``); which of them are the host
agent's, and which run on the host itself, is ``api.kinds.KINDS`` (``tests/agents/
test_apply.py`` checks that these maps match it). This module imports the handler modules,
which import only ``agents.host.handler``: no cycle. A new kind's handler is one class in
its module and one name below.
"""

from __future__ import annotations

from typing import Any

from agents.host.activities import CpuChange, CpuMode, KernelUpdate, MemoryResize, Reboot
from agents.host.handler import GuestHandler, Handler, HostHandler
from agents.host.host_reboot import HostReboot

__all__ = ["GUEST_HANDLERS", "HANDLERS", "HOST_HANDLERS"]

GUEST_HANDLERS: dict[str, type[GuestHandler[Any]]] = {
    h.kind: h for h in (MemoryResize, CpuChange, KernelUpdate, Reboot, CpuMode)
}
HOST_HANDLERS: dict[str, type[HostHandler[Any]]] = {h.kind: h for h in (HostReboot,)}
HANDLERS: dict[str, type[Handler[Any]]] = {**GUEST_HANDLERS, **HOST_HANDLERS}
