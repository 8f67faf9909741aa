"""fenster-agent's command line without the API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .conftest import AGENT, node_uri


def agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENT, *args], capture_output=True, text=True, timeout=30, check=False, env={}
    )


def test_inventory_prints_what_libvirt_shows() -> None:
    out = agent("--uri", node_uri(), "inventory")
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["cpu_model"] == "AMD Opteron(tm) Processor 6174"
    assert seen["domains"][1] == {
        "name": "web01",
        "state": "running",
        "memory_mib": 2048,
        "max_memory_mib": 4096,
        "vcpus": 2,
        "kernel": "2.6.32",
        "cpu_mode": None,  # no <cpu> element: QEMU's default model
    }


def test_usage_and_config_errors_exit_2(tmp_path: Path) -> None:
    assert agent().returncode == 2  # no command
    no_token = agent("--state-dir", str(tmp_path), "once")
    assert no_token.returncode == 2 and "FENSTER_AGENT_TOKEN" in no_token.stderr
    token = tmp_path / "token"
    token.write_text("fa_x\n")
    bad = agent("--token-file", str(token), "--state-dir", str(tmp_path), "run", "--interval", "0")
    assert bad.returncode == 2 and "--interval" in bad.stderr
    slow = agent("--token-file", str(token), "--shutdown-timeout", "0", "once")
    assert slow.returncode == 2 and "--shutdown-timeout" in slow.stderr


def test_unreachable_hypervisor_exits_1() -> None:
    out = agent("--uri", "test:///no/such/node.xml", "inventory")
    assert out.returncode == 1 and "connect to test:///no/such/node.xml" in out.stderr
