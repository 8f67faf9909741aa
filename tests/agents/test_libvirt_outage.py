"""libvirt going away is not the activity's fault (issue 15, section 2): the agent against
the real API and the test driver, with libvirtd's disappearance raised from libvirt's own
calls as the libvirtError a dead socket gives ("client socket is closed", VIR_FROM_RPC).
The real hypervisor tier kills and restarts a real libvirtd."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest

from agents.client import Client
from agents.errors import ConnectionLost
from agents.host.apply import Context
from agents.host.journal import Journal
from agents.host.loop import Agent
from agents.virt.libvirt import Hypervisor

from .conftest import Api, node_uri


@dataclass
class Outage:
    """libvirtd is "down" from the first setMaxMemory until ``back`` is set."""

    down: bool = False
    hits: int = 0
    reconnects: int = 0


def lost() -> libvirt.libvirtError:
    err = libvirt.libvirtError("internal error: client socket is closed")
    msg = "internal error: client socket is closed"
    err.err = (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_RPC, msg, 2)
    return err


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch) -> Iterator[Outage]:
    state = Outage()
    real_set_max = libvirt.virDomain.setMaxMemory
    real_reconnect = Hypervisor.reconnect

    def set_max(dom: libvirt.virDomain, kib: int) -> int:
        if state.hits == 0:
            state.hits, state.down = 1, True
            raise lost()
        return real_set_max(dom, kib)

    def reconnect(hv: Hypervisor) -> None:
        state.reconnects += 1
        if state.down:
            raise ConnectionLost(f"connect to {hv.uri}: Failed to connect socket")
        real_reconnect(hv)

    monkeypatch.setattr(libvirt.virDomain, "setMaxMemory", set_max)
    monkeypatch.setattr(Hypervisor, "alive", property(lambda _hv: not state.down))
    monkeypatch.setattr(Hypervisor, "reconnect", reconnect)
    yield state


def windows(api: Api) -> dict[str, str]:
    return dict(
        api.rows(
            "SELECT m.name, w.state FROM maintenance_window w JOIN machine m ON m.id = w.machine_id"
        )
    )


def test_libvirt_back_within_the_wait_resumes_the_window(
    api: Api, tmp_path: Path, outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Hypervisor.connect(node_uri()) as hv, Client(api.url, api.token) as client:
        agent = Agent(client, Context(hv, Journal(tmp_path)), libvirt_wait=5, backoff=0.05)
        real_wait = agent.stopping.wait

        def wait(seconds: float) -> bool:  # libvirtd comes back during the first backoff
            outage.down = False
            return real_wait(seconds)

        monkeypatch.setattr(agent.stopping, "wait", wait)
        summary = agent.cycle()
    assert [(w.machine, w.state) for w in summary.windows] == [
        ("web01", "completed"),
        ("db01", "completed"),
    ]
    assert outage.reconnects == 2  # refused once, then connected
    [(log, attempts)] = api.rows("SELECT log, attempts FROM activity WHERE kind = 'memory_resize'")
    assert attempts == 1
    assert "resumed after libvirt came back (1 time(s))" in log
    assert "interrupted" not in log and "gave up" not in log


def test_libvirt_staying_away_keeps_the_window_and_starts_no_other(
    api: Api, tmp_path: Path, outage: Outage
) -> None:
    journal = Journal(tmp_path)
    with Hypervisor.connect(node_uri()) as hv, Client(api.url, api.token) as client:
        agent = Agent(client, Context(hv, journal), libvirt_wait=0.2, backoff=0.05)
        for _ in range(4):  # cycle after cycle while libvirtd is away
            with pytest.raises(ConnectionLost):
                agent.cycle()
            assert windows(api) == {"web01": "running", "db01": "planned"}
        entry = journal.load()
        assert entry is not None and entry.machine == "web01"
        assert (entry.attempts, entry.libvirt_losses) == (0, 1)  # not an interruption
        outage.down = False  # libvirtd is back
        summary = agent.cycle()
    assert summary.resumed is not None and summary.resumed.state == "completed"
    assert [(w.machine, w.state) for w in summary.windows] == [("db01", "completed")]
    assert windows(api) == {"web01": "completed", "db01": "completed"}
    logs = [log for (log,) in api.rows("SELECT log FROM activity WHERE kind != 'reboot'")]
    assert not any("gave up" in log or "interrupted" in log for log in logs)
