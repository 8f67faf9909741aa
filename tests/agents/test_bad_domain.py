"""One bad domain must not stop a host (issue 15, section 3): the agent against the real
API and a test-driver node with an unmanaged domain the API cannot take."""

from __future__ import annotations

from pathlib import Path

from agents.client import Client
from agents.host.apply import Context
from agents.host.journal import Journal
from agents.host.loop import Agent
from agents.virt.libvirt import Hypervisor

from .conftest import NODES, Api

LEGACY = """
  <domain type="test">
    <name>legacy01</name>
    <memory unit="MiB">512</memory>
    <vcpu>1</vcpu>
    <os>
      <type arch="x86_64">hvm</type>
      <kernel>/boot/vmlinuz-{kernel}</kernel>
    </os>
  </domain>
</node>"""


def test_an_unreportable_domain_does_not_keep_the_host_from_its_windows(
    api: Api, tmp_path: Path
) -> None:
    node = tmp_path / "kvm01.xml"
    xml = (NODES / "kvm01.xml").read_text()
    node.write_text(xml.replace("</node>", LEGACY.format(kernel="6" * 70)))
    with Hypervisor.connect(f"test://{node}") as hv, Client(api.url, api.token) as client:
        agent = Agent(client, Context(hv, Journal(tmp_path)))
        summary = agent.cycle()
    assert summary.inventory["rejected"] == ["legacy01: kernel: at most 64 printable characters"]
    assert [(w.machine, w.state) for w in summary.windows] == [
        ("web01", "completed"),
        ("db01", "completed"),
    ]
    assert api.rows("SELECT observed_memory_mib FROM machine WHERE name = 'web01'") == [(8192,)]
