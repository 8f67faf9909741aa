"""A private libvirtd with QEMU (TCG) for the real-hypervisor tier.

The daemon is a session libvirtd run as ``nobody`` with every directory (config, run, cache,
data) under one temporary directory: it neither needs nor disturbs a system libvirtd. Its
qemu.conf writes guest consoles to files (``stdio_handler = "file"``), so no virtlogd is
involved. QEMU's capabilities are probed once per cache directory; /dev/kvm (0600, root)
is not usable by ``nobody``, so libvirt never probes KVM and guests are ``type='qemu'``.

Guests are tiny: diskless domains (SeaBIOS finds nothing to boot and ignores ACPI), and
kernel guests that boot Debian's kernel with an initramfs built here (busybox, evdev.ko,
button.ko) whose /init reports the kernel on the serial console and powers off when the ACPI
power button is pressed.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import io
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KERNEL_CACHE", "Daemon", "KernelKit", "domain_xml", "missing", "newc", "sweep"]

PREFIX = "fenster-virt-"  # each daemon's directory in the temporary directory
OWNER = "owner.lock"  # flock held by the process that runs the daemon, for its whole life
BOOT_FILES = "boot-files"  # the /boot files a tier installed, one path a line

KERNEL_CACHE = Path(os.environ.get("FENSTER_TEST_KERNEL_DIR", "/var/cache/fenster-test/kernel"))
BINARIES = ("libvirtd", "qemu-system-x86_64", "busybox")

INIT = """#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /evdev.ko
insmod /button.ko
sleep 1
for e in /sys/class/input/event*; do
  if grep -q "Power Button" "$e/device/name"; then
    (head -c 1 "/dev/input/${e##*/}" > /dev/null &&
     echo "fenster-guest: acpi poweroff" > /dev/ttyS0; poweroff -f) &
  fi
done
echo "fenster-guest: up $(uname -r)" > /dev/ttyS0
while true; do sleep 3600; done
"""


def missing() -> str | None:
    """Why the tier cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "the real-hypervisor tier needs root (it runs libvirtd as nobody and writes /boot)"
    for binary in BINARIES:
        if shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            return f"{binary} is not installed (run .ci/system-deps --test as root)"
    if KernelKit.find() is None:
        return f"no test kernel in {KERNEL_CACHE} (run .ci/system-deps --test as root)"
    return None


def newc(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A gzipped cpio archive (newc) of ``{path: (content, mode)}``: an initramfs."""
    out = io.BytesIO()
    for ino, (name, (data, mode)) in enumerate([*files.items(), ("TRAILER!!!", (b"", 0))]):
        raw = name.encode() + b"\0"
        fields = [ino + 1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0]
        out.write(b"070701" + "".join(f"{v:08x}" for v in fields).encode() + raw)
        out.write(b"\0" * (-(110 + len(raw)) % 4) + data + b"\0" * (-len(data) % 4))
    return gzip.compress(out.getvalue())


@dataclass
class KernelKit:
    """Debian's kernel and the two modules the guests' init needs."""

    vmlinuz: Path
    modules: dict[str, Path]

    @classmethod
    def find(cls) -> KernelKit | None:
        kernels = sorted(KERNEL_CACHE.glob("vmlinuz-*"))
        mods = {n: KERNEL_CACHE / n for n in ("evdev.ko", "button.ko")}
        if not kernels or not all(p.is_file() for p in mods.values()):
            return None
        return cls(kernels[-1], mods)

    def initramfs(self) -> bytes:
        busybox = Path(shutil.which("busybox") or "/bin/busybox").read_bytes()
        return newc(
            {
                "init": (INIT.encode(), 0o100755),
                "bin": (b"", 0o040755),
                "bin/busybox": (busybox, 0o100755),
                **{n: (p.read_bytes(), 0o100644) for n, p in self.modules.items()},
            }
        )


@dataclass
class Daemon:
    """A session libvirtd as ``nobody`` in its own directory."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix=PREFIX)))
    proc: subprocess.Popen[bytes] | None = None
    _owner: int | None = None  # the held lock: a sweep leaves this directory alone

    @property
    def uri(self) -> str:
        return f"qemu+unix:///session?socket={self.root}/run/libvirt/libvirt-sock"

    @property
    def socket(self) -> Path:
        return self.root / "run/libvirt/libvirt-sock"

    def __post_init__(self) -> None:
        self._owner = os.open(self.root / OWNER, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def prepare(self) -> None:
        nobody = pwd.getpwnam("nobody")
        for sub in ("config/libvirt", "run", "cache", "data", "home", "guests"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "config/libvirt/qemu.conf").write_text('stdio_handler = "file"\n')
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        self.root.chmod(0o755)

    def start(self, timeout: float = 30.0) -> None:
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": f"{self.root}/home",
            "XDG_CONFIG_HOME": f"{self.root}/config",
            "XDG_RUNTIME_DIR": f"{self.root}/run",
            "XDG_CACHE_HOME": f"{self.root}/cache",
            "XDG_DATA_HOME": f"{self.root}/data",
        }
        with (self.root / "libvirtd.log").open("ab") as log:
            self.proc = subprocess.Popen(
                ["runuser", "-u", "nobody", "--", "libvirtd", "--timeout", "0"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"libvirtd did not start: {self.log_tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL libvirtd (its guests' QEMU processes live on)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    def install_boot_file(self, source: Path, name: str, boot: Path = Path("/boot")) -> Path:
        """Copy ``source`` to ``boot/name``, noted in the directory so that ``stop`` (or a
        later ``sweep``, if this process is killed) removes it."""
        target = boot / name
        with (self.root / BOOT_FILES).open("a") as f:
            f.write(f"{target}\n")  # noted first: a kill right after the copy leaves none
        shutil.copyfile(source, target)
        return target

    def stop(self) -> None:
        """Destroy every guest's QEMU, stop libvirtd, remove its /boot files and directory."""
        self.kill()
        _clear(self.root)
        if self._owner is not None:
            os.close(self._owner)
            self._owner = None

    def guest_pids(self) -> list[int]:
        """The QEMU processes of this daemon's guests (their command lines name its dir)."""
        return _pids_naming(self.root, environ=False)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "libvirtd.log").read_text()[-2000:]
        return ""


def sweep(tmp: Path | None = None) -> list[Path]:
    """Clean up after tiers that were killed (SIGKILL, a CI timeout): for every daemon
    directory whose owner lock is free, kill the processes that name it (its libvirtd by
    its environment, its QEMUs by their command lines), remove the /boot files it noted and
    the directory. A running tier holds its lock and is left alone. Returns what it swept."""
    swept = []
    for root in sorted(Path(tmp or tempfile.gettempdir()).glob(f"{PREFIX}*")):
        try:
            fd = os.open(root / OWNER, os.O_RDWR)
        except FileNotFoundError:  # an older tier's, or one being made this instant
            fd = None
            with contextlib.suppress(OSError):
                if time.time() - root.stat().st_mtime < 60:
                    continue
        except OSError:
            continue
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # type: ignore[arg-type]
            continue
        _clear(root)
        if fd is not None:
            os.close(fd)
        swept.append(root)
    return swept


def _clear(root: Path) -> None:
    for pid in _pids_naming(root, environ=True):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        for line in (root / BOOT_FILES).read_text().splitlines():
            if line.strip():
                Path(line.strip()).unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)


def _pids_naming(root: Path, environ: bool) -> list[int]:
    """Processes whose command line (or, with ``environ``, environment) names ``root``."""
    mark = str(root).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            for part in ("cmdline", "environ") if environ else ("cmdline",):
                with contextlib.suppress(OSError):
                    if mark in (proc / part).read_bytes():
                        pids.append(int(proc.name))
                        break
    return pids


def domain_xml(
    name: str, console: Path, mib: int = 256, kernel: str | None = None, initrd: Path | None = None
) -> str:
    """A small TCG guest: diskless (ignores ACPI) or, with ``kernel``, booting
    /boot/vmlinuz-KERNEL with the test initramfs (powers off on ACPI)."""
    boot = ""
    if kernel:
        boot = (
            f"<kernel>/boot/vmlinuz-{kernel}</kernel><initrd>{initrd}</initrd>"
            "<cmdline>console=ttyS0 quiet panic=-1 mitigations=off no_timer_check"
            " tsc=reliable</cmdline>"
        )
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{mib}</memory>
  <currentMemory unit='MiB'>{mib}</currentMemory>
  <vcpu current='1'>4</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>{boot}</os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='{console}' append='on'/></serial>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>"""
