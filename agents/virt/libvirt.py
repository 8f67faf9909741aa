"""The only module that imports libvirt: a thin Hypervisor and Guest over libvirt domains.

Every libvirt call goes through ``Hypervisor.call``, which turns libvirt's error codes into
the agent's exceptions (``DomainNotFound``, ``VirtError``). Stopping a stopped guest or
starting a running one is success, not an error.
"""

from __future__ import annotations

import contextlib
import platform
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TypeVar

import libvirt

from agents.errors import DomainNotFound, VirtError

__all__ = ["Guest", "Hypervisor"]

T = TypeVar("T")
KIB_PER_MIB = 1024
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
VCPU_MAXIMUM = libvirt.VIR_DOMAIN_VCPU_MAXIMUM
INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE
KERNEL_PATH = re.compile(r"^/boot/vmlinuz-(?P<version>[A-Za-z0-9._+-]+)$")
VERSION = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")
STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended",
}


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; the agent reports its own."""


libvirt.registerErrorHandler(_quiet, None)


def call(what: str, fn: Callable[[], T], *, domain: str | None = None) -> T:
    """Run one libvirt call; libvirt's errors become the agent's exceptions."""
    try:
        return fn()
    except libvirt.libvirtError as e:
        code = e.get_error_code()
        if code == libvirt.VIR_ERR_NO_DOMAIN and domain is not None:
            raise DomainNotFound(domain, code) from e
        message = e.get_error_message() or str(e)
        raise VirtError(f"{what}: {message}", code) from e


class Guest:
    """One libvirt domain: properties read live values, verbs change it."""

    def __init__(self, domain: libvirt.virDomain, shutdown_timeout: float = 120.0) -> None:
        self._dom = domain
        self.name: str = domain.name()
        self.shutdown_timeout = shutdown_timeout

    def __repr__(self) -> str:
        return f"Guest({self.name!r})"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        return call(f"{self.name}: {what}", fn, domain=self.name)

    def _xml(self, inactive: bool = False) -> ET.Element:
        flags = INACTIVE if inactive else 0
        return ET.fromstring(self._call("read XML", lambda: self._dom.XMLDesc(flags)))

    @property
    def state(self) -> str:
        code = self._call("read state", self._dom.state)[0]
        return STATES.get(code, f"unknown({code})")

    @property
    def running(self) -> bool:
        return bool(self._call("read state", self._dom.isActive))

    @property
    def memory_mib(self) -> int:
        """Memory the guest has now (live current memory)."""
        return int(self._call("read info", self._dom.info)[2]) // KIB_PER_MIB

    @property
    def max_memory_mib(self) -> int:
        return int(self._call("read max memory", self._dom.maxMemory)) // KIB_PER_MIB

    @property
    def vcpus(self) -> int:
        """Virtual CPUs the guest has now."""
        return int(self._call("read info", self._dom.info)[3])

    @property
    def kernel(self) -> str | None:
        return _kernel_of(self._xml())

    @property
    def config_memory_mib(self) -> tuple[int, int]:
        """(current, maximum) memory of the persistent definition: what the next boot gets."""
        xml = self._xml(inactive=True)
        current = _kib(xml, "currentMemory") or _kib(xml, "memory")
        return current // KIB_PER_MIB, _kib(xml, "memory") // KIB_PER_MIB

    @property
    def config_vcpus(self) -> int:
        return int(self._call("read vcpus", lambda: self._dom.vcpusFlags(CONFIG)))

    @property
    def config_max_vcpus(self) -> int:
        """The definition's vCPU maximum (the number in <vcpu>)."""
        return int(
            self._call("read vcpu maximum", lambda: self._dom.vcpusFlags(CONFIG | VCPU_MAXIMUM))
        )

    @property
    def config_kernel(self) -> str | None:
        return _kernel_of(self._xml(inactive=True))

    def shutdown(self, timeout: float | None = None, poll: float = 0.2) -> bool:
        """Shut down gracefully (ACPI) and wait until off, at most ``timeout`` seconds
        (default: the hypervisor's shutdown timeout). Returns False if it was already off."""
        timeout = self.shutdown_timeout if timeout is None else timeout
        if not self.running:
            return False
        try:
            self._call("shutdown", self._dom.shutdown)
        except VirtError:
            if not self.running:  # it went down on its own meanwhile: the state we want
                return True
            raise
        deadline = time.monotonic() + timeout
        while self.running:
            if time.monotonic() > deadline:
                raise VirtError(f"{self.name}: still running {timeout:.0f} s after shutdown")
            time.sleep(poll)
        return True

    def start(self) -> bool:
        """Start the guest. Returns False if it was already running."""
        if self.running:
            return False
        try:
            self._call("start", self._dom.create)
        except VirtError:
            if self.running:
                return False
            raise
        return True

    def set_memory(self, mib: int) -> None:
        """Set current and maximum memory of the definition; the guest must be shut off."""
        kib = mib * KIB_PER_MIB
        if self.running:
            raise VirtError(f"{self.name}: memory can only be resized while shut off")
        if mib > self.config_memory_mib[1]:
            self._call("set max memory", lambda: self._dom.setMaxMemory(kib))
            self._call("set memory", lambda: self._dom.setMemoryFlags(kib, CONFIG))
        else:
            self._call("set memory", lambda: self._dom.setMemoryFlags(kib, CONFIG))
            self._call("set max memory", lambda: self._dom.setMaxMemory(kib))

    def set_vcpus(self, count: int) -> None:
        """Set the vCPUs of the definition, raising its maximum first when ``count`` is above
        it (the directory enforces the product's limit); the next boot has them."""
        if count > self.config_max_vcpus:
            self._call(
                "raise vcpu maximum",
                lambda: self._dom.setVcpusFlags(count, CONFIG | VCPU_MAXIMUM),
            )
        self._call("set vcpus", lambda: self._dom.setVcpusFlags(count, CONFIG))

    def set_kernel(self, version: str) -> None:
        """Boot /boot/vmlinuz-VERSION from now on: redefine the inactive XML."""
        if not VERSION.match(version):
            raise VirtError(f"{self.name}: {version!r} is not a kernel version")
        xml = self._xml(inactive=True)
        os_el = xml.find("os")
        if os_el is None:
            raise VirtError(f"{self.name}: the definition has no <os> element")
        kernel = os_el.find("kernel")
        if kernel is None:
            kernel = ET.SubElement(os_el, "kernel")
        kernel.text = f"/boot/vmlinuz-{version}"
        text = ET.tostring(xml, encoding="unicode")
        conn = self._call("connection", self._dom.connect)
        self._dom = call(f"{self.name}: define", lambda: conn.defineXML(text), domain=self.name)


def _kib(xml: ET.Element, tag: str) -> int:
    el = xml.find(tag)
    if el is None or not el.text:
        return 0
    unit = (el.get("unit") or "KiB").lower()
    factor = {"kib": 1, "k": 1, "mib": 1024, "m": 1024, "gib": 1024**2, "g": 1024**2}[unit]
    return int(el.text) * factor


def _kernel_of(xml: ET.Element) -> str | None:
    path = xml.findtext("os/kernel")
    match = KERNEL_PATH.match(path.strip()) if path else None
    return match.group("version") if match else None


class Hypervisor:
    """One libvirt connection."""

    def __init__(self, conn: libvirt.virConnect, uri: str, shutdown_timeout: float = 120.0) -> None:
        self._conn = conn
        self.uri = uri
        self.shutdown_timeout = shutdown_timeout

    @classmethod
    def connect(cls, uri: str, shutdown_timeout: float = 120.0) -> Hypervisor:
        return cls(call(f"connect to {uri}", lambda: libvirt.open(uri)), uri, shutdown_timeout)

    def close(self) -> None:
        call("close", self._conn.close)

    def reconnect(self) -> None:
        """Open a new connection (after libvirtd restarted, say); the old one is dropped."""
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.close()
        self._conn = call(f"connect to {self.uri}", lambda: libvirt.open(self.uri))

    def __enter__(self) -> Hypervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cpu_model(self) -> str:
        caps = ET.fromstring(call("read capabilities", self._conn.getCapabilities))
        model = caps.findtext("host/cpu/model")
        if model:
            return model.strip()
        return str(call("read node info", self._conn.getInfo)[0])

    @property
    def kernel(self) -> str | None:
        """The host's own kernel: libvirt does not tell, the local uname does for a local
        qemu:/// connection; None for any other URI (remote, test driver)."""
        return platform.release() if self.uri.startswith(("qemu:///", "qemu+unix:///")) else None

    def domains(self) -> list[Guest]:
        doms = call("list domains", self._conn.listAllDomains)
        return sorted((Guest(d, self.shutdown_timeout) for d in doms), key=lambda g: g.name)

    def guest(self, name: str) -> Guest:
        dom = call("look up", lambda: self._conn.lookupByName(name), domain=name)
        return Guest(dom, self.shutdown_timeout)
