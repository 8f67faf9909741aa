"""The systemd units in docs/systemd/ are valid for systemd itself (`systemd-analyze verify`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = sorted((Path(__file__).resolve().parents[1] / "docs" / "systemd").glob("*.service"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_unit_verifies(unit: Path, tmp_path: Path) -> None:
    # the units name /opt/fenster/.venv; verify checks that ExecStart exists, so point it at
    # this checkout's interpreter directory, where both entry points are installed
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "fenster").exists() and (bin_dir / "fenster-agent").exists()
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/opt/fenster/.venv/bin/", f"{bin_dir}/"))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    problems = [line for line in out.stderr.splitlines() if unit.name in line]
    assert not problems, problems  # unknown keys are only warned about: refuse them here
