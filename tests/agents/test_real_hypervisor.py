"""The real-hypervisor tier: `fenster-agent` against a private libvirtd with QEMU (TCG) and
the real API. Slow (guests boot under TCG); skipped, with the reason, without root or the
packages that .ci/system-deps --test installs.

Guests (tests.agents.realvirt): web01, db01 and bad01 are diskless and ignore ACPI; k01 boots
Debian's kernel as /boot/vmlinuz-fenster-a (fenster-b is the same file under a second name)
and powers off on ACPI.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from .conftest import AGENT, Api
from .realvirt import Daemon, KernelKit, domain_xml, missing, sweep

pytestmark = [pytest.mark.slow, pytest.mark.libvirt]
if why := missing():
    pytestmark.append(pytest.mark.skip(reason=why))

KERNELS = ("fenster-a", "fenster-b")
DISKLESS = ("web01", "db01", "bad01")
TIMEOUT = 3  # --shutdown-timeout for the tier: the diskless guests never shut down


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    kit = KernelKit.find()
    assert kit is not None
    sweep()  # what a killed earlier tier left: its libvirtd, QEMUs, /boot files
    d = Daemon()
    d.prepare()
    for version in KERNELS:
        d.install_boot_file(kit.vmlinuz, f"vmlinuz-{version}")
    initrd = d.root / "guests/initrd.gz"
    initrd.write_bytes(kit.initramfs())
    initrd.chmod(0o644)
    try:
        d.start()
        yield d
    finally:
        d.stop()  # its /boot files too


def console(daemon: Daemon, name: str) -> Path:
    return daemon.root / "guests" / f"{name}.log"


def boots(daemon: Daemon, name: str) -> int:
    path = console(daemon, name)
    return path.read_text(errors="replace").count("fenster-guest: up") if path.exists() else 0


@pytest.fixture
def scenario() -> str:
    return "real"


def define(daemon: Daemon, c: libvirt.virConnect, name: str, kernel: str | None = None) -> None:
    """(Re)define ``name`` fresh and start it."""
    try:
        dom = c.lookupByName(name)
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    except libvirt.libvirtError:
        pass
    console(daemon, name).unlink(missing_ok=True)
    initrd = daemon.root / "guests/initrd.gz"
    c.defineXML(domain_xml(name, console(daemon, name), kernel=kernel, initrd=initrd)).create()


@pytest.fixture
def conn(daemon: Daemon) -> Iterator[libvirt.virConnect]:
    """Fresh diskless guests for each test, all running."""
    c = libvirt.open(daemon.uri)
    # each guest (re)defined and started once: the four, and any other a test left
    for name in dict.fromkeys([*DISKLESS, "k01", *(dom.name() for dom in c.listAllDomains())]):
        define(daemon, c, name)
    try:
        yield c
    finally:
        c.close()


def wait_booted(daemon: Daemon, name: str, count: int = 1, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while boots(daemon, name) < count:
        assert time.monotonic() < deadline, f"{name} did not boot: {console(daemon, name)}"
        time.sleep(0.5)


def agent(api: Api, daemon: Daemon, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENT, *api.args(), "--uri", daemon.uri, "--shutdown-timeout", str(TIMEOUT), *args],
        env=api.env(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def windows(api: Api) -> dict[str, str]:
    return dict(
        api.rows(
            "SELECT m.name, w.state FROM maintenance_window w JOIN machine m ON m.id = w.machine_id"
        )
    )


def logs(api: Api) -> dict[tuple[str, str], tuple[str, str, int]]:
    rows = api.rows(
        "SELECT m.name, a.kind, a.state, a.log, a.attempts FROM activity a"
        " JOIN machine m ON m.id = a.machine_id"
    )
    return {(m, k): (s, log, n) for m, k, s, log, n in rows}


def inactive(c: libvirt.virConnect, name: str) -> ET.Element:
    return ET.fromstring(c.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def test_every_guest_activity_kind(api: Api, daemon: Daemon, conn: libvirt.virConnect) -> None:
    define(daemon, conn, "k01", "fenster-a")  # boots a kernel, powers off on ACPI
    wait_booted(daemon, "k01")
    done = agent(api, daemon, "once")
    assert done.returncode == 1, done.stderr  # bad01's window failed, as it must
    assert windows(api) == {
        "web01": "completed",
        "db01": "completed",
        "k01": "completed",
        "bad01": "failed",
    }
    seen = logs(api)
    # memory and vCPUs, one restart of a guest that ignores ACPI: powered off after the timeout
    state, log, _ = seen[("web01", "memory_resize")]
    assert state == "done" and log.count("action=destroy") == 1, log
    web = conn.lookupByName("web01")
    assert web.isActive() and web.info()[2] == 320 * 1024 and web.info()[3] == 2
    # the reboot of a guest that ignores ACPI
    state, log, _ = seen[("db01", "reboot")]
    assert state == "done" and "action=destroy" in log, log
    assert conn.lookupByName("db01").isActive()
    # a kernel change: ACPI shutdown (no destroy), boots the new kernel, host CPU shown
    state, log, _ = seen[("k01", "kernel_update")]
    assert state == "done" and "action=shutdown" in log and "action=destroy" not in log, log
    live = ET.fromstring(conn.lookupByName("k01").XMLDesc(0))
    assert live.findtext("os/kernel") == "/boot/vmlinuz-fenster-b"
    assert inactive(conn, "k01").find("cpu").get("mode") == "host-model"
    wait_booted(daemon, "k01", 2)
    assert "fenster-guest: acpi poweroff" in console(daemon, "k01").read_text()
    # a kernel that is not in /boot: QEMU refuses to start, the old definition runs again
    state, log, _ = seen[("bad01", "kernel_update")]
    assert state == "failed" and "rollback:" in log and "vmlinuz-2.6.39" in log, log
    bad = conn.lookupByName("bad01")
    assert bad.isActive() and inactive(conn, "bad01").find("os/kernel") is None
    host = api.rows("SELECT cpu_model FROM machine WHERE name = 'kvm01'")[0][0]
    assert host and "qemu64" not in host and "kvm64" not in host
    assert api.rows("SELECT observed_kernel FROM machine WHERE name = 'k01'") == [("fenster-b",)]


@pytest.mark.parametrize("scenario", ["host-reboot"])
def test_host_reboot_stops_every_guest_once(
    api: Api, daemon: Daemon, conn: libvirt.virConnect
) -> None:
    done = agent(api, daemon, "once")
    assert done.returncode == 0, done.stderr
    assert set(windows(api).values()) == {"completed"}
    [(log,)] = api.rows("SELECT log FROM activity WHERE kind = 'host_reboot'")
    guests = [*DISKLESS, "k01"]
    for name in guests:  # each stopped once (powered off: they ignore ACPI), started once
        assert log.count(f"machine={name} wanted=shut off found=running action=shutdown") == 1
        assert log.count(f"machine={name} wanted=running found=shut off action=start") == 1
        assert conn.lookupByName(name).isActive()
    assert log.count("action=destroy") == len(guests)
    vm_logs = [log for (log,) in api.rows("SELECT log FROM activity WHERE kind = 'reboot'")]
    assert vm_logs and all("no second reboot" in log for log in vm_logs)


def test_agent_killed_mid_window_finishes_once(
    api: Api, daemon: Daemon, conn: libvirt.virConnect
) -> None:
    crashed = agent(api, daemon, "once", FENSTER_AGENT_TEST_CRASH_AFTER="ensure_vcpus")
    assert crashed.returncode == -signal.SIGKILL
    assert not conn.lookupByName("web01").isActive()  # stopped for the memory change
    resumed = agent(api, daemon, "once")
    assert json.loads(resumed.stdout)["resumed"]["state"] == "completed", resumed.stderr
    seen = logs(api)
    state, log, attempts = seen[("web01", "memory_resize")]
    assert (state, attempts) == ("done", 1)
    assert "action=set-memory" in log.split("resumed after an interrupted run (attempt 2)")[0]
    web = conn.lookupByName("web01")
    assert web.isActive() and (web.info()[2], web.info()[3]) == (320 * 1024, 2)
    finishes = api.rows("SELECT count(*) FROM audit_event WHERE action = 'window.finish'")
    assert finishes == [(4,)]


def test_libvirtd_killed_and_restarted_mid_window(
    api: Api, daemon: Daemon, conn: libvirt.virConnect
) -> None:
    cmd = [AGENT, *api.args(), "--uri", daemon.uri, "--shutdown-timeout", "6", "-v", "once"]
    proc = subprocess.Popen(
        cmd, env=api.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # web01 is being shut down (it ignores ACPI): kill libvirtd now
        if "machine=web01 wanted=shut off found=running action=shutdown" in line:
            break
    daemon.kill()
    time.sleep(8)
    daemon.start()
    out, err = proc.communicate(timeout=300)
    summary = json.loads(out)
    states = {w["machine"]: w["state"] for w in summary["windows"]}
    assert states["web01"] == "completed" and states["db01"] == "completed", err
    state, log, attempts = logs(api)[("web01", "memory_resize")]
    assert (state, attempts) == ("done", 1)
    assert "resumed after libvirt came back" in log and "interrupted" not in log, log
    web = libvirt.open(daemon.uri).lookupByName("web01")
    assert web.isActive() and web.info()[2] == 320 * 1024


def test_two_agents_for_one_host(
    api: Api, daemon: Daemon, conn: libvirt.virConnect, tmp_path: Path
) -> None:
    first = agent(api, daemon, "once", FENSTER_AGENT_TEST_CRASH_AFTER="ensure_vcpus")
    assert first.returncode == -signal.SIGKILL  # web01's window: claimed, guest stopped
    other = ["--state-dir", str(tmp_path / "second")]
    second = agent(api, daemon, *other, "once")
    machines = [w["machine"] for w in json.loads(second.stdout)["windows"]]
    assert "web01" not in machines and machines, second.stderr
    assert not conn.lookupByName("web01").isActive()  # the second agent left it alone
    resumed = agent(api, daemon, "once")
    assert json.loads(resumed.stdout)["resumed"]["state"] == "completed", resumed.stderr
    web = conn.lookupByName("web01")
    assert web.isActive() and web.info()[2] == 320 * 1024
    [(attempts,)] = api.rows("SELECT attempts FROM activity WHERE kind = 'memory_resize'")
    assert attempts == 1
