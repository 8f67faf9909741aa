"""The one run loop both agents share: a cycle every ``interval`` seconds (jittered) until
SIGTERM or SIGINT, which finish the work in hand first.

A cycle returns whether it failed. The API out of reach is logged and waited out; a
``ConfigError`` (e.g. a damaged journal) is raised, since waiting does not fix it; any other
agent error fails the cycle, and the next cycle starts afresh (the host agent's reconnects to
libvirt first).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from agents.client import jitter
from agents.errors import AgentError, ConfigError, TransportError, VirtError

__all__ = ["install_stop_signals", "run_cycles"]


def run_cycles(
    stopping: threading.Event, cycle: Callable[[], bool], interval: float, log: logging.Logger
) -> int:
    """Run ``cycle`` (True: it failed) until ``stopping`` is set. Returns the exit code: 1
    if the last cycle failed, else 0."""
    failed = False
    while not stopping.is_set():
        try:
            failed = cycle()
        except TransportError as e:
            log.error("API unreachable: %s", e)
        except ConfigError:
            raise
        except VirtError as e:
            log.error("libvirt: %s", e)
            failed = True
        except AgentError as e:
            log.error("cycle failed: %s", e)
            failed = True
        stopping.wait(jitter(interval))
    log.info("stopped")
    return 1 if failed else 0


def install_stop_signals(stopping: threading.Event, log: logging.Logger, finishing: str) -> None:
    """SIGTERM and SIGINT set ``stopping``; the log says what is finished first."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: finishing %s, then stopping", signal.strsignal(signum), finishing)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
