"""The journal's cost per window (issue 15's benchmark: the agent's fixed cost for guests
that are shut off). A durable save is a file and a directory fsync (4 ms here); a window
needs three: before startWindow, the guest's state before anything acts, the results before
finishWindow; and the removal's directory fsync. The start flag and the attempt count ride
on those. (The enter hooks, agents/host/hooks.py, keep their own saves and are not counted.)"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import pytest

from agents.client import Client
from agents.host.apply import Context
from agents.host.journal import Journal
from agents.host.loop import Agent
from agents.virt.libvirt import Hypervisor

from .conftest import Api, node_uri

DURABLE_SAVES = 3  # each: the file and its directory
PER_WINDOW = DURABLE_SAVES * 2 + 1  # and the removal's directory fsync


def _caller() -> str:
    """The file of the agent's code that asked for the save (journal.py and jsonfile.py
    left out)."""
    stack = traceback.extract_stack()
    files = [f.filename for f in stack if "/agents/" in f.filename and "/tests/" not in f.filename]
    return next((f for f in reversed(files) if not f.endswith(("journal.py", "jsonfile.py"))), "")


def test_a_shut_off_guests_window_costs_three_durable_journal_saves(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs = []
    real = os.fsync
    with Hypervisor.connect(node_uri()) as hv, Client(api.url, api.token) as client:
        for name in ("web01", "db01"):
            hv.guest(name).shutdown()
        monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(_caller()) or real(fd))
        summary = Agent(client, Context(hv, Journal(tmp_path))).cycle()
    assert [(w.machine, w.state) for w in summary.windows] == [
        ("web01", "completed"),
        ("db01", "completed"),
    ]
    ours = [f for f in fsyncs if not f.endswith("hooks.py")]  # the enter hooks' own saves
    assert len(ours) == PER_WINDOW * len(summary.windows), fsyncs
