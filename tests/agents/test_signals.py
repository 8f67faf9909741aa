"""SIGTERM during a window: the agent finishes that window, starts no other, and stops."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.client import Client
from agents.host.apply import Context
from agents.host.journal import Journal
from agents.host.loop import Agent
from agents.virt.libvirt import Hypervisor

from .conftest import Api, node_uri


class TermOnFirstShutdown(logging.Handler):
    """Sends this process a real SIGTERM when the first guest is being shut down."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.sent and "action=shutdown" in record.getMessage():
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.fixture
def term_on_shutdown() -> Iterator[TermOnFirstShutdown]:
    logger = logging.getLogger("fenster.agent.steps")
    handler, level = TermOnFirstShutdown(), logger.level
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        for s, h in old.items():
            signal.signal(s, h)


def test_sigterm_finishes_the_window_in_hand_then_stops(
    api: Api, tmp_path: Path, term_on_shutdown: TermOnFirstShutdown
) -> None:
    with Hypervisor.connect(node_uri()) as hv, Client(api.url, api.token) as client:
        agent = Agent(client, Context(hv, Journal(tmp_path)))
        assert agent.run(interval=30) == 0  # returns at once: no 30 s wait after the signal
        assert term_on_shutdown.sent
        web = hv.guest("web01")
        assert (web.running, web.memory_mib, web.vcpus) == (True, 8192, 4)
    states = dict(
        api.rows(
            "SELECT m.name, w.state FROM maintenance_window w JOIN machine m ON m.id = w.machine_id"
        )
    )
    assert states == {"web01": "completed", "db01": "planned"}
    assert not (tmp_path / "journal.json").exists()
