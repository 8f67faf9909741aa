"""Fixtures for the host agent: libvirt's own test driver on node XML files under nodes/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.virt.libvirt import Hypervisor

NODES = Path(__file__).parent / "nodes"


def node_uri(name: str = "kvm01") -> str:
    """A test:/// URI: every connection gets a fresh node built from the file."""
    return f"test://{(NODES / f'{name}.xml').resolve()}"


@pytest.fixture
def hv() -> Iterator[Hypervisor]:
    with Hypervisor.connect(node_uri()) as h:
        yield h
