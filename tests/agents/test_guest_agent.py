"""`fenster-agent guest` as a subprocess against the real API (uvicorn, SQLite): an update that
succeeds, one that fails, one that hangs past its timeout, the agent SIGKILLed mid-update (the
next run adopts the update and reports its real outcome; never run twice), and a report that
does not arrive (sent again, the update not run again)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from agents.client import Client
from agents.errors import TransportError
from agents.guest.facts import cpu_model, swap_mib
from agents.guest.loop import GuestAgent, GuestJournal, Pending
from agents.guest.loop import Settings as GuestSettings

from .conftest import AGENT, Api

DEMO = f"{sys.executable} -m agents.guest.demo_update"
QEMU = "QEMU Virtual CPU version 2.5+"


@pytest.fixture
def scenario() -> str:
    return "guest"


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A /proc of the guest's own: 512 MiB of swap and QEMU's generic CPU."""
    d = tmp_path / "proc"
    d.mkdir()
    (d / "meminfo").write_text("MemTotal: 2097152 kB\nSwapTotal:  524288 kB\nSwapFree: 0 kB\n")
    (d / "cpuinfo").write_text(f"processor\t: 0\nmodel name\t: {QEMU}\nflags\t: fpu\n")
    return d


def guest(api: Api, proc: Path, cmd: str, *extra: str) -> list[str]:
    return [
        AGENT,
        "--api",
        api.url,
        "--state-dir",
        str(api.state),
        "guest",
        "--command",
        cmd,
        "--proc",
        str(proc),
        "--once",
        *extra,
    ]


def once(api: Api, proc: Path, cmd: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        guest(api, proc, cmd, *extra),
        env=api.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def update(api: Api) -> tuple:
    return api.rows(
        "SELECT state, exit_code, changed_packages, log, attempts FROM activity"
        " WHERE kind = 'system_update'"
    )[0]


def machine(api: Api) -> tuple:
    return api.rows(
        "SELECT guest_kernel, observed_swap_mib, guest_cpu_model FROM machine WHERE name = 'web01'"
    )[0]


def test_a_successful_update_is_reported_with_packages_and_facts(api: Api, proc: Path) -> None:
    done = once(api, proc, DEMO)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert list(summary["updates"].values()) == ["done"]
    state, code, packages, log, attempts = update(api)
    assert (state, code, attempts) == ("done", 0, 1)
    assert json.loads(packages) == [
        "sys-kernel/gentoo-sources 2.6.32 -> 2.6.38",
        "dev-lang/python 2.7.1 -> 2.7.2",
    ]
    assert "2 packages updated" in log
    assert machine(api) == (os.uname().release, 512, QEMU)
    assert not (api.state / "guest-journal.json").exists()
    again = once(api, proc, DEMO)  # nothing due any more
    assert again.returncode == 0 and json.loads(again.stdout)["updates"] == {}


def test_a_failing_update_stays_failed_with_its_error(api: Api, proc: Path) -> None:
    failed = once(api, proc, f"{DEMO} --fail 3")
    assert failed.returncode == 1
    state, code, packages, log, _ = update(api)
    assert (state, code, json.loads(packages)) == ("failed", 3, [])
    assert "the demo update was asked to fail" in log
    assert json.loads(once(api, proc, DEMO).stdout)["updates"] == {}  # not run again


def test_an_update_past_its_timeout_is_stopped_and_failed(api: Api, proc: Path) -> None:
    record = api.state.parent / "runs"
    started = time.monotonic()
    cmd = f"{DEMO} --noise 64 --sleep 60 --record {record}"  # a long log, then it hangs
    hung = once(api, proc, cmd, "--timeout", "1")
    assert time.monotonic() - started < 30
    assert hung.returncode == 1
    state, code, _, log, _ = update(api)
    assert (state, code) == ("failed", None)
    assert log.endswith("timed out after 1 s; the command was stopped")
    assert log.startswith("[…]") and "progress" in log and len(log) <= 16 * 1024  # the tail
    (_, pid), *_ = [line.split() for line in record.read_text().splitlines()]
    with pytest.raises(ProcessLookupError):  # the command was stopped, not left behind
        os.kill(int(pid), 0)


def killed_mid_update(api: Api, proc: Path, cmd: str, record: Path) -> int:
    """Start the agent on ``cmd``, SIGKILL it once the command runs: the command's pid."""
    agent = subprocess.Popen(
        guest(api, proc, cmd),
        env=api.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not record.exists() or not record.read_text().strip():
            assert time.monotonic() < deadline, "the update did not start"
            time.sleep(0.05)
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    (_, pid), *_ = [line.split() for line in record.read_text().splitlines()]
    assert update(api)[0] == "running"
    assert json.loads((api.state / "guest-journal.json").read_text())["pid"]
    return int(pid)


def test_killed_mid_update_it_is_adopted_and_its_real_outcome_reported(
    api: Api, proc: Path
) -> None:
    record = api.state.parent / "runs"
    cmd = f"{DEMO} --sleep 4 --record {record}"
    pid = killed_mid_update(api, proc, cmd, record)
    os.kill(pid, 0)  # the update runs on without its agent
    after = once(api, proc, cmd)  # adopts it: waits for it, reports what it did
    assert after.returncode == 0, after.stderr
    assert len(record.read_text().splitlines()) == 1  # run once
    state, code, packages, log, attempts = update(api)
    assert (state, code, attempts) == ("done", 0, 1)
    assert "adopted after the agent restarted" in log and "2 packages updated" in log
    assert len(json.loads(packages)) == 2
    assert not (api.state / "guest-journal.json").exists()
    assert json.loads(once(api, proc, cmd).stdout)["updates"] == {}


def test_an_update_killed_with_its_agent_is_reported_unknown_not_run_again(
    api: Api, proc: Path
) -> None:
    record = api.state.parent / "runs"
    cmd = f"{DEMO} --sleep 60 --record {record}"
    pid = killed_mid_update(api, proc, cmd, record)
    os.killpg(os.getpgid(pid), signal.SIGKILL)  # the command too (its own process group)
    after = once(api, proc, cmd)
    assert after.returncode == 1, after.stderr
    assert len(record.read_text().splitlines()) == 1  # not run a second time
    state, code, _, log, attempts = update(api)
    assert (state, code, attempts) == ("failed", None, 1)
    assert "its outcome is unknown" in log
    assert not (api.state / "guest-journal.json").exists()
    assert json.loads(once(api, proc, cmd).stdout)["updates"] == {}


def test_facts_parsing() -> None:
    assert swap_mib("MemTotal: 1 kB\nSwapTotal:     1048572 kB\n") == 1023
    assert swap_mib("MemTotal: 1 kB\n") is None
    assert cpu_model("processor: 0\nmodel name\t:  AMD  EPYC 7302P\n") == "AMD EPYC 7302P"
    assert cpu_model("") is None


class ReportsFail(httpx.HTTPTransport):
    """The real HTTP transport, except that the first ``failures`` reports never arrive."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if b"reportGuestUpdate" in request.content and self.failures > 0:
            self.failures -= 1
            raise httpx.ConnectError("the directory is away", request=request)
        return super().handle_request(request)


def test_a_report_that_does_not_arrive_is_sent_again_not_the_update(api: Api, proc: Path) -> None:
    record = api.state.parent / "runs"
    api.state.mkdir()
    settings = GuestSettings(f"{DEMO} --record {record}", 30, api.state, proc)
    transport = ReportsFail(failures=2)
    with Client(api.url, api.token, retries=1, backoff=0.01, transport=transport) as client:
        agent = GuestAgent(client, settings)
        with pytest.raises(TransportError):
            agent.cycle()
        assert update(api)[0] == "running"
        assert (api.state / "guest-journal.json").exists()
        summary = agent.cycle()
    assert list(summary.updates.values()) == ["done"]
    assert update(api)[:2] == ("done", 0)
    assert len(record.read_text().splitlines()) == 1
    assert not (api.state / "guest-journal.json").exists()


@pytest.mark.parametrize("scenario", ["guest-window"])
def test_the_host_agent_leaves_system_updates_in_its_windows_to_the_guest(
    api: Api, proc: Path
) -> None:
    host = api.agent("once")
    assert host.returncode == 0, host.stderr
    windows = {
        w["machine"]: (w["state"], w["activities"]) for w in json.loads(host.stdout)["windows"]
    }
    assert windows == {
        "web01": ("completed", {"reboot": "done"}),
        "db01": ("completed", {}),  # only guest work: started and finished, not missed
    }
    rows = api.rows(
        "SELECT m.name, a.state, a.attempts FROM activity a JOIN machine m ON m.id = a.machine_id"
        " WHERE a.kind = 'system_update' ORDER BY m.name"
    )
    assert rows == [("db01", "scheduled", 0), ("web01", "scheduled", 0)]
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "token",
            "create",
            "--role",
            "guest",
            "--machine",
            "web01",
        ],
        env={**api.env(), "FENSTER_DATABASE_URL": f"sqlite://{api.db}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    api.token = made.stdout.strip()
    done = once(api, proc, DEMO)
    assert done.returncode == 0, done.stderr
    rows = api.rows(
        "SELECT m.name, a.state FROM activity a JOIN machine m ON m.id = a.machine_id"
        " WHERE a.kind = 'system_update' ORDER BY m.name"
    )
    assert rows == [("db01", "scheduled"), ("web01", "done")]  # web01's token: web01's only


def test_a_refused_report_leaves_the_update_failed_not_running(api: Api, proc: Path) -> None:
    api.state.mkdir()
    with Client(api.url, api.token, retries=0) as client:
        (due,) = client.guest_work()
        client.start_guest_update(due.id)
        journal = GuestJournal(api.state)  # a report the directory cannot take
        bad = {"activity": due.id, "outcome": "DONE", "exitCode": 1, "log": "", "packages": []}
        journal.save(Pending(due.id, due.kind, bad))
        summary = GuestAgent(client, GuestSettings(DEMO, 30, api.state, proc)).cycle()
    assert summary.updates == {due.id: "failed"}
    state, code, _, log, _ = update(api)
    assert (state, code) == ("failed", 1)
    assert "the directory refused the report" in log and "not done" in log
    assert journal.load() is None


def test_a_bad_command_is_a_configuration_error(api: Api, proc: Path) -> None:
    for cmd in ("", "   ", "sh -c 'unbalanced"):
        bad = once(api, proc, cmd)
        assert bad.returncode == 2 and "--command" in bad.stderr, cmd
    assert update(api)[0] == "scheduled"
