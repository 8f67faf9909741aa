"""What the guest sees of itself: its running kernel, its swap and its CPU model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Facts", "gather"]


@dataclass(frozen=True, slots=True)
class Facts:
    kernel: str | None  # `uname -r`
    swap_mib: int | None  # /proc/meminfo SwapTotal
    cpu_model: str | None  # /proc/cpuinfo's first "model name"

    def as_input(self) -> dict[str, object]:
        """As the API's GuestFactsInput."""
        return {"kernel": self.kernel, "swapMib": self.swap_mib, "cpuModel": self.cpu_model}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def swap_mib(meminfo: str) -> int | None:
    for line in meminfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "SwapTotal":
            number, *_ = value.split() or ["?"]
            return int(number) // 1024 if number.isdigit() else None  # kB -> MiB
    return None


def cpu_model(cpuinfo: str) -> str | None:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return " ".join(value.split())[:200]
    return None


def gather(proc: Path = Path("/proc")) -> Facts:
    """From ``proc`` (a test gives its own directory; sys/kernel/osrelease is ``uname -r``,
    else ``uname`` itself); unreadable: None."""
    release = _read(proc / "sys" / "kernel" / "osrelease").strip() or os.uname().release
    return Facts(
        kernel=release[:64] or None,
        swap_mib=swap_mib(_read(proc / "meminfo")),
        cpu_model=cpu_model(_read(proc / "cpuinfo")),
    )
