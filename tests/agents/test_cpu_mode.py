"""CPU mode as an activity of its own (issue 15, section 5): the host agent sets host-model
(or host-passthrough) in an existing guest's definition and restarts it once; inventory
reports each domain's mode; ``fenster cpu-mode`` queues the activity for the VMs whose
reported mode is another."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import httpx
import libvirt
import pytest
from tortoise.context import TortoiseContext

from agents.host.apply import Context, apply_entry
from agents.host.journal import Entry, Journal, JournalActivity
from agents.host.loop import inventory
from agents.virt.libvirt import Hypervisor
from api.errors import ValidationError
from api.kinds import ActivityKind, check_params
from tests.cli.test_foundation_cli import run
from tests.graphql.world import build_world, gql


def window(machine: str, mode: str) -> Entry:
    return Entry(f"w-{machine}", machine, [JournalActivity("a", "cpu_mode", {"mode": mode})])


@pytest.fixture
def boots(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counted: Counter[str] = Counter()
    real = libvirt.virDomain.create

    def create(dom: libvirt.virDomain) -> int:
        counted[dom.name()] += 1
        return real(dom)

    monkeypatch.setattr(libvirt.virDomain, "create", create)
    return counted


@pytest.mark.parametrize("mode", ["host-model", "host-passthrough"])
def test_a_running_guest_gets_the_mode_and_one_restart(
    hv: Hypervisor, tmp_path: Path, boots: Counter[str], mode: str
) -> None:
    assert hv.guest("web01").cpu_mode is None
    [result] = apply_entry(Context(hv, Journal(tmp_path)), window("web01", mode))
    assert result.outcome == "done", result.log
    assert f"cpu mode: machine=web01 wanted={mode} found=None action=set-cpu-mode" in result.log
    assert f"found=cpu mode none->{mode} action=restart" in result.log
    web = hv.guest("web01")
    assert (web.running, web.cpu_mode, boots) == (True, mode, {"web01": 1})
    [report] = [d for d in inventory(hv)["domains"] if d.name == "web01"]
    assert report.cpu_mode == mode
    again = apply_entry(Context(hv, Journal(tmp_path)), window("web01", mode))  # idempotent
    assert "action=none" in again[0].log and boots == {"web01": 1}


def test_a_shut_off_guest_gets_the_mode_and_stays_off(
    hv: Hypervisor, tmp_path: Path, boots: Counter[str]
) -> None:
    hv.guest("db01").shutdown()
    [result] = apply_entry(Context(hv, Journal(tmp_path)), window("db01", "host-model"))
    assert result.outcome == "done", result.log
    db = hv.guest("db01")
    assert (db.running, db.cpu_mode, boots) == (False, "host-model", {})


def test_a_cpu_mode_activity_takes_only_the_modes_that_show_the_host_cpu() -> None:
    assert check_params(ActivityKind.CPU_MODE, None) == {"mode": "host-model"}
    with pytest.raises(ValidationError, match="host-model, host-passthrough"):
        check_params(ActivityKind.CPU_MODE, {"mode": "custom"})


def test_fenster_cpu_mode_queues_it_for_the_vms_whose_mode_is_another(tmp_path: Path) -> None:
    db = tmp_path / "f.sqlite3"
    assert run(["demo", "--no-serve"], db).returncode == 0
    with sqlite3.connect(db) as conn:
        vms = [
            n for (n,) in conn.execute("SELECT name FROM machine WHERE kind = 'vm' ORDER BY name")
        ]
        conn.execute("UPDATE machine SET observed_cpu_mode = 'host-model' WHERE kind = 'vm'")
        conn.execute("UPDATE machine SET observed_cpu_mode = 'custom' WHERE name = ?", (vms[0],))
        conn.execute("UPDATE machine SET observed_cpu_mode = NULL WHERE name = ?", (vms[1],))

    def cpu_mode_rows() -> list[tuple]:
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "SELECT m.name, a.params, a.state FROM activity a"
                " JOIN machine m ON m.id = a.machine_id WHERE a.kind = 'cpu_mode'"
            ).fetchall()

    dry = run(["cpu-mode", "--dry-run"], db)
    assert dry.returncode == 0, dry.stderr
    assert f"cpu mode host-model: would queue 1: {vms[0]}" in dry.stdout
    assert "1 VM(s) without a reported CPU mode" in dry.stdout
    assert cpu_mode_rows() == []
    done = run(["cpu-mode"], db)
    assert f"queued 1: {vms[0]}" in done.stdout, done.stdout + done.stderr
    assert cpu_mode_rows() == [(vms[0], '{"mode":"host-model"}', "queued")]
    again = run(["cpu-mode"], db)  # nothing twice
    assert f"already queued: {vms[0]}" in again.stdout
    assert len(cpu_mode_rows()) == 1
    bad = run(["cpu-mode", "--mode", "custom"], db)
    assert bad.returncode != 0 and len(cpu_mode_rows()) == 1


async def test_inventory_carries_each_domains_cpu_mode_to_the_directory(
    db: TortoiseContext, client: httpx.AsyncClient
) -> None:
    world = await build_world()
    report = (
        "mutation($input: ReportInventoryInput!) { reportInventory(input: $input) {"
        " __typename ... on InventoryResult { updated } } }"
    )
    domain = {"name": "alpha-web", "state": "running", "memoryMib": 2048, "vcpus": 2}
    value = {"domains": [{**domain, "cpuMode": "custom"}]}
    out = await gql(client, report, {"input": value}, world.tokens["agent_1"])
    assert out["data"]["reportInventory"]["updated"] == ["alpha-web"], out
    read = '{ machine(name: "alpha-web") { observed { cpuMode } } }'
    seen = await gql(client, read, None, world.tokens["admin"])
    assert seen["data"]["machine"]["observed"]["cpuMode"] == "custom", seen
    too_long = {"domains": [{**domain, "cpuMode": "x" * 33}]}
    refused = await gql(client, report, {"input": too_long}, world.tokens["agent_1"])
    assert refused["data"]["reportInventory"]["updated"] == ["alpha-web"]  # rejected alone
