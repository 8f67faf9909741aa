"""The only module that imports libvirt: a thin Hypervisor and Guest over libvirt domains.

Every libvirt call goes through ``call``, which turns libvirt's error codes into the agent's
exceptions: ``DomainNotFound``, ``ConnectionLost`` (libvirtd went away: not the operation's
fault) and ``VirtError`` (libvirt refused the operation). Stopping a stopped guest or starting
a running one is success, not an error.
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

from agents.errors import ConnectionLost, DomainNotFound, VirtError
from api.kinds import CPU_MODES

__all__ = ["CPU_MODES", "Guest", "Hypervisor"]

T = TypeVar("T")
KIB_PER_MIB = 1024
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
VCPU_MAXIMUM = libvirt.VIR_DOMAIN_VCPU_MAXIMUM
INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE
MIGRATABLE = libvirt.VIR_DOMAIN_XML_MIGRATABLE
# libvirt's answers when the connection itself is gone (libvirtd killed, socket closed)
LOST_CODES = {libvirt.VIR_ERR_INVALID_CONN, libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_RPC}
LOST_FROM = {libvirt.VIR_FROM_RPC, libvirt.VIR_FROM_REMOTE}
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
        if code in LOST_CODES or e.get_error_domain() in LOST_FROM:
            raise ConnectionLost(f"{what}: {message}", code) from e
        raise VirtError(f"{what}: {message}", code) from e


class Guest:
    """One libvirt domain: properties read live values, verbs change it."""

    def __init__(
        self,
        domain: libvirt.virDomain,
        shutdown_timeout: float = 120.0,
        cpu_mode: str | None = None,
    ) -> None:
        self._dom = domain
        self.name: str = domain.name()
        self.shutdown_timeout = shutdown_timeout
        self.cpu_mode_wanted = cpu_mode  # set on every redefine (None: left as it is)

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
        except ConnectionLost:
            raise
        except VirtError:
            if not self.running:  # it went down on its own meanwhile: the state we want
                return True
            raise
        deadline = time.monotonic() + timeout
        while self.running:
            if time.monotonic() > deadline:
                raise VirtError(f"{self.name}: still running {timeout:g} s after shutdown")
            time.sleep(poll)
        return True

    def destroy(self) -> bool:
        """Power off at once. Returns False if it was already off."""
        if not self.running:
            return False
        try:
            self._call("destroy", self._dom.destroy)
        except VirtError:
            if self.running:
                raise
        return True

    def start(self) -> bool:
        """Start the guest and check that it runs (booted means booted). Returns False if it
        was already running."""
        if self.running:
            return False
        try:
            self._call("start", self._dom.create)
        except ConnectionLost:
            raise
        except VirtError:
            if self.running:
                return False
            raise
        if self.state not in ("running", "blocked"):
            raise VirtError(f"{self.name}: started, but it is {self.state}, not running")
        return True

    def definition(self) -> str:
        """The XML to define to get this guest back as it is: for a running guest the
        definition it booted (live XML without runtime details), else the persistent one."""
        if self.running:
            return self._call("read XML", lambda: self._dom.XMLDesc(MIGRATABLE))
        return self._call("read XML", lambda: self._dom.XMLDesc(INACTIVE))

    def define(self, xml: str) -> None:
        """Make ``xml`` the persistent definition (the next boot uses it)."""
        conn = self._call("connection", self._dom.connect)
        self._dom = call(f"{self.name}: define", lambda: conn.defineXML(xml), domain=self.name)

    def memory_problem(self) -> str | None:
        """Why the agent cannot change this definition's memory (checked before stopping)."""
        if self._xml(inactive=True).find("cpu/numa/cell") is not None:
            return (
                "the definition has NUMA cells; libvirt sizes their memory, not the agent: "
                "change the cells by hand"
            )
        return None

    @property
    def cpu_mode(self) -> str | None:
        """The definition's CPU mode (host-model, host-passthrough, custom; None: none set)."""
        cpu = self._xml(inactive=True).find("cpu")
        if cpu is None:
            return None
        return cpu.get("mode") or "custom"

    def set_cpu_mode(self, mode: str) -> None:
        """Show the guest the host CPU from its next boot: <cpu mode='MODE'/>."""
        if mode not in CPU_MODES:
            raise VirtError(f"{self.name}: {mode!r} is not one of {', '.join(CPU_MODES)}")
        xml = self._xml(inactive=True)
        _set_cpu_mode(xml, mode)
        self.define(ET.tostring(xml, encoding="unicode"))

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
        if self.cpu_mode_wanted:
            _set_cpu_mode(xml, self.cpu_mode_wanted)
        self.define(ET.tostring(xml, encoding="unicode"))


def _set_cpu_mode(xml: ET.Element, mode: str) -> None:
    old = xml.find("cpu")
    keep = [] if old is None else [c for c in old if c.tag == "numa"]
    if old is not None:
        xml.remove(old)
    ET.SubElement(xml, "cpu", {"mode": mode}).extend(keep)


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
    """One libvirt connection. The host's capabilities are read once per connection."""

    def __init__(
        self,
        conn: libvirt.virConnect,
        uri: str,
        shutdown_timeout: float = 120.0,
        cpu_mode: str | None = None,
    ) -> None:
        self._conn = conn
        self.uri = uri
        self.shutdown_timeout = shutdown_timeout
        self.cpu_mode = cpu_mode
        self._caps: ET.Element | None = None

    @classmethod
    def connect(
        cls, uri: str, shutdown_timeout: float = 120.0, cpu_mode: str | None = None
    ) -> Hypervisor:
        conn = call(f"connect to {uri}", lambda: libvirt.open(uri))
        return cls(conn, uri, shutdown_timeout, cpu_mode)

    def close(self) -> None:
        with contextlib.suppress(ConnectionLost):
            call("close", self._conn.close)

    @property
    def alive(self) -> bool:
        """The connection is open and libvirtd answers (one cheap round trip)."""
        try:
            return bool(self._conn.isAlive()) and self._conn.getLibVersion() > 0
        except libvirt.libvirtError:
            return False

    def reconnect(self) -> None:
        """Open a new connection (after libvirtd restarted, say); the old one is dropped.
        If the new one cannot be opened, ``alive`` stays False and this raises."""
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.close()
        self._conn = call(f"connect to {self.uri}", lambda: libvirt.open(self.uri))
        self._caps = None

    def __enter__(self) -> Hypervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def local(self) -> bool:
        return self.uri.startswith(("qemu:///", "qemu+unix:///"))

    @property
    def cpu_model(self) -> str:
        """The host CPU's own name: /proc/cpuinfo's model name on a local host, else the
        capabilities' vendor and model (read once per connection)."""
        if self.local and (name := _cpuinfo_model()):
            return name
        if self._caps is None:
            self._caps = ET.fromstring(call("read capabilities", self._conn.getCapabilities))
        model = (self._caps.findtext("host/cpu/model") or "").strip()
        vendor = (self._caps.findtext("host/cpu/vendor") or "").strip()
        if model:
            return f"{vendor} {model}".strip()
        return str(call("read node info", self._conn.getInfo)[0])

    @property
    def memory_mib(self) -> int:
        """The host's memory."""
        return int(call("read node info", self._conn.getInfo)[1])

    @property
    def kernel(self) -> str | None:
        """The host's own kernel: libvirt does not tell, the local uname does for a local
        qemu:/// connection; None for any other URI (remote, test driver)."""
        return platform.release() if self.local else None

    def domains(self) -> list[Guest]:
        doms = call("list domains", self._conn.listAllDomains)
        return sorted((self._guest(d) for d in doms), key=lambda g: g.name)

    def guest(self, name: str) -> Guest:
        return self._guest(call("look up", lambda: self._conn.lookupByName(name), domain=name))

    def _guest(self, dom: libvirt.virDomain) -> Guest:
        return Guest(dom, self.shutdown_timeout, self.cpu_mode)


def _cpuinfo_model(path: str = "/proc/cpuinfo") -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return " ".join(value.split())
    except OSError:
        return None
    return None
