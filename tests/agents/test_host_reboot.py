"""A forced host reboot (window_ops.force_host_reboot) carried out by fenster-agent."""

from __future__ import annotations

import json

import pytest

from .conftest import Api


@pytest.fixture
def scenario() -> str:
    return "host-reboot"


def test_host_reboot_restarts_every_guest_once(api: Api) -> None:
    done = api.agent("once")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [(w["machine"], w["state"], w["activities"]) for w in summary["windows"]] == [
        ("kvm01", "completed", {"host_reboot": "done"}),
        ("db01", "completed", {"reboot": "done"}),
        ("web01", "completed", {"reboot": "done"}),
    ]
    logs = dict(
        api.rows(
            "SELECT m.name, a.log FROM activity a JOIN machine m ON m.id = a.machine_id"
            " ORDER BY a.id"
        )
    )
    host = logs["kvm01"]
    assert "guests running before: db01, web01" in host
    assert host.count("action=shutdown") == 2 and host.count("action=start") == 2
    assert "no reboot command configured: the host itself was not rebooted" in host
    for vm in ("db01", "web01"):
        assert f"{vm} was rebooted with host kvm01; no second reboot" in logs[vm]
        assert "action=shutdown" not in logs[vm]
    states = api.rows("SELECT observed_state FROM machine WHERE kind = 'vm'")
    assert states == [("running",), ("running",)]
