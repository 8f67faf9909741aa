"""The real tier cleans up after a tier that was killed (tests/agents/realvirt.py ``sweep``):
the dead tier's processes, /boot files and directory go; a running tier's stay. Runs
without libvirt: the "daemon" is a sleeping process that names its directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .realvirt import BOOT_FILES, PREFIX, Daemon, sweep


def process_naming(root: Path) -> subprocess.Popen[bytes]:
    """Like the dead tier's libvirtd: its environment names the directory."""
    env = {**os.environ, "XDG_RUNTIME_DIR": f"{root}/run"}
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)


def test_a_killed_tiers_leftovers_are_swept_and_a_running_tiers_are_not(tmp_path: Path) -> None:
    boot = tmp_path / "boot"
    boot.mkdir()
    dead = tmp_path / f"{PREFIX}dead"
    (dead / "run").mkdir(parents=True)
    (dead / "owner.lock").touch()  # its owner died: nobody holds the lock
    (boot / "vmlinuz-fenster-a").write_bytes(b"kernel")
    (dead / BOOT_FILES).write_text(f"{boot / 'vmlinuz-fenster-a'}\n")
    leftover = process_naming(dead)
    (tmp_path / f"{PREFIX}live").mkdir()
    live = Daemon(root=tmp_path / f"{PREFIX}live")  # holds its lock
    live_file = live.install_boot_file(Path(sys.executable), "vmlinuz-fenster-live", boot)
    running = process_naming(live.root)
    try:
        assert sweep(tmp_path) == [dead]
        assert leftover.wait(timeout=10) == -9  # SIGKILLed
        assert not dead.exists() and not (boot / "vmlinuz-fenster-a").exists()
        assert running.poll() is None and live.root.exists() and live_file.exists()
    finally:
        live.stop()
        running.wait(timeout=10)
    assert not live.root.exists() and not live_file.exists()
