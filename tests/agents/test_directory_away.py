"""Drill (issue 14): the directory goes away while a host agent is in the middle of a window.
The agent finishes the window (the guest is running again), keeps its report in the journal,
starts no window the directory did not confirm, and delivers the report once the directory
is back; every activity ran once. "Away" is the API process stopped (SIGSTOP): connections
hang until the client's timeout, as over a broken network."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.client import Client
from agents.errors import TransportError
from agents.host.apply import Context
from agents.host.journal import Journal
from agents.host.loop import Agent
from agents.virt.libvirt import Guest, Hypervisor

from .conftest import Api, node_uri


@pytest.fixture
def away(api: Api) -> Iterator[list[bool]]:
    state = [False]
    yield state
    if state[0]:
        os.kill(api.pid, signal.SIGCONT)


def windows(api: Api) -> dict[str, str]:
    return dict(
        api.rows(
            "SELECT m.name, w.state FROM maintenance_window w JOIN machine m ON m.id = w.machine_id"
        )
    )


def test_directory_away_mid_window(
    api: Api,
    tmp_path: Path,
    away: list[bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_set_memory = Guest.set_memory

    def set_memory(guest: Guest, mib: int) -> None:  # mid-window: the directory goes away
        if not away[0]:
            os.kill(api.pid, signal.SIGSTOP)
            away[0] = True
        real_set_memory(guest, mib)

    monkeypatch.setattr(Guest, "set_memory", set_memory)
    journal = Journal(tmp_path)
    with (
        Hypervisor.connect(node_uri()) as hv,
        Client(api.url, api.token, timeout=1.0, retries=1, backoff=0.05) as client,
    ):
        agent = Agent(client, Context(hv, journal), backoff=0.05)
        with pytest.raises(TransportError):
            agent.cycle()  # web01's window is carried out; its report cannot be delivered
        assert away[0]
        assert hv.guest("web01").running  # the guest is up again, directory or not
        entry = journal.load()
        assert entry is not None and entry.machine == "web01" and entry.results is not None
        db01 = hv.guest("db01").definition()

        with pytest.raises(TransportError):  # still away: nothing new is started
            agent.cycle()
        assert hv.guest("db01").definition() == db01 and hv.guest("db01").running

        os.kill(api.pid, signal.SIGCONT)  # the directory is back
        away[0] = False
        assert windows(api) == {"web01": "running", "db01": "planned"}
        summary = agent.cycle()
    assert summary.resumed is not None and summary.resumed.state == "completed"
    assert windows(api) == {"web01": "completed", "db01": "completed"}
    attempts = api.rows("SELECT kind, state, attempts FROM activity ORDER BY id")
    assert all(state == "done" and n == 1 for _, state, n in attempts), attempts
    finishes = api.rows("SELECT count(*) FROM audit_event WHERE action = 'window.finish'")
    assert finishes == [(2,)]
    assert journal.load() is None
