"""Enter and leave hooks end to end: the real API (uvicorn, SQLite), `fenster-agent guest` as
a subprocess running web01's hooks, and the host agent on libvirt's test:/// driver running
web01's window (a reboot: it stops the guest)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import AGENT, Api

DEMO = f"{sys.executable} -m agents.guest.demo_update"
HOST = ("--hooks-poll", "0.2", "--hooks-answer-wait", "20")


@pytest.fixture
def scenario() -> str:
    return "hooks"


def hook(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def hooks_dir(tmp_path: Path) -> Path:
    d = tmp_path / "hooks"
    hook(d / "leave.d" / "10-back", f'echo "$FENSTER_WINDOW" >> {tmp_path / "left"}')
    return d


class Guest:
    """`fenster-agent guest run` for web01, in the background."""

    def __init__(self, api: Api, hooks_dir: Path, proc: subprocess.Popen[str]) -> None:
        self.api, self.hooks_dir, self.proc = api, hooks_dir, proc


@pytest.fixture
def osrelease(tmp_path: Path) -> Path:
    """The guest's `uname -r` (its /proc/sys/kernel/osrelease, in a /proc of its own)."""
    path = tmp_path / "proc" / "sys" / "kernel" / "osrelease"
    path.parent.mkdir(parents=True)
    path.write_text("2.6.32-gentoo\n")
    return path


def guest_argv(api: Api, tmp_path: Path, hooks_dir: Path, *extra: str) -> list[str]:
    argv = [AGENT, "--api", api.url, "--state-dir", str(tmp_path / "guest-state"), "guest"]
    argv += ["--command", DEMO, "--hooks-dir", str(hooks_dir), "--hook-timeout", "10"]
    return [*argv, "--proc", str(tmp_path / "proc"), *extra]


def guest_env(api: Api) -> dict[str, str]:
    token = (api.db.parent / "guest-token").read_text().strip()
    return {**api.env(), "FENSTER_AGENT_TOKEN": token}


@contextlib.contextmanager
def running_guest(api: Api, hooks_dir: Path, tmp_path: Path, *extra: str) -> Iterator[Guest]:
    argv = guest_argv(api, tmp_path, hooks_dir, "--interval", "0.3", *extra)
    log = (tmp_path / "guest.log").open("a")
    proc = subprocess.Popen(argv, env=guest_env(api), stdout=log, stderr=log, text=True)
    try:
        wait_for(lambda: reported(api), "the guest agent's first report")
        yield Guest(api, hooks_dir, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture
def guest(api: Api, hooks_dir: Path, osrelease: Path, tmp_path: Path) -> Iterator[Guest]:
    with running_guest(api, hooks_dir, tmp_path) as g:
        yield g


def wait_for(check: object, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.2)


def reported(api: Api) -> bool:
    return api.rows("SELECT guest_reported_at FROM machine WHERE name = 'web01'")[0][0] is not None


def host_once(api: Api, *extra: str) -> dict:
    out = api.agent(*HOST, *extra, "once")
    assert out.returncode in (0, 1) and out.stdout, out.stderr
    return json.loads(out.stdout)


def window(api: Api) -> tuple:
    return api.rows(
        "SELECT w.state, w.postpones, w.starts_at, a.state, a.log FROM maintenance_window w"
        " JOIN machine m ON m.id = w.machine_id JOIN activity a ON a.window_id = w.id"
        " WHERE m.name = 'web01'"
    )[0]


def hooks(api: Api) -> dict[str, tuple]:
    rows = api.rows("SELECT phase, verdict, asks, reason, kernel FROM guest_hook")
    return {r[0]: r[1:] for r in rows}


def test_go_runs_the_window_and_the_leave_hooks_after(
    api: Api, guest: Guest, tmp_path: Path
) -> None:
    entered = tmp_path / "entered"
    hook(guest.hooks_dir / "enter.d" / "10-ok", f'echo "$FENSTER_HOOK_PHASE" > {entered}')
    summary = host_once(api)
    assert [w["state"] for w in summary["windows"]] == ["completed"]
    assert entered.read_text().strip() == "enter"
    state, _, _, outcome, log = window(api)
    assert (state, outcome) == ("completed", "done")
    assert "enter hooks: go" in log
    wait_for(lambda: (tmp_path / "left").exists(), "leave hooks")
    wait_for(lambda: hooks(api).get("leave", ("asked",))[0] == "go", "leave answer")
    assert hooks(api)["enter"][:2] == ("go", 1)


def test_not_yet_then_go(api: Api, guest: Guest, tmp_path: Path) -> None:
    tries = tmp_path / "tries"
    hook(  # not yet the first time, go the second
        guest.hooks_dir / "enter.d" / "10-busy",
        f"echo x >> {tries}; [ $(wc -l < {tries}) -ge 2 ] || {{ echo backup runs; exit 75; }}",
    )
    summary = host_once(api)
    assert [w["state"] for w in summary["windows"]] == ["completed"]
    assert len(tries.read_text().splitlines()) == 2
    assert hooks(api)["enter"][:2] == ("go", 2)


def test_not_yet_past_the_bound_fails_the_window_and_leaves_the_guest(
    api: Api, guest: Guest
) -> None:
    hook(guest.hooks_dir / "enter.d" / "10-busy", "echo backup still runs; exit 75")
    started = time.monotonic()
    summary = host_once(api, "--hooks-wait", "2")
    assert time.monotonic() - started < 30
    assert [w["state"] for w in summary["windows"]] == ["failed"]
    state, _, _, outcome, log = window(api)
    assert (state, outcome) == ("failed", "failed")
    assert "not yet, for more than 2 s" in log and "backup still runs" in log
    assert "left running, unchanged" in log
    assert "machine=web01" not in log  # no step touched the guest
    assert api.rows("SELECT observed_state FROM machine WHERE name = 'web01'") == [("running",)]


def test_postpone_moves_the_window_within_the_groups_rules(api: Api, guest: Guest) -> None:
    before = window(api)[2]
    hook(guest.hooks_dir / "enter.d" / "10-later", "echo month end; exit 69")
    summary = host_once(api)
    assert summary["windows"][0]["state"] == "skipped"
    assert "postpone" in summary["windows"][0]["note"]
    state, postpones, starts_at, outcome, _ = window(api)
    assert (state, postpones, outcome) == ("planned", 1, "scheduled")
    assert starts_at > before
    verdict, _, reason, _ = hooks(api)["enter"]
    assert verdict == "postponed" and "month end" in reason and "postponed to" in reason
    assert host_once(api)["windows"] == []  # not due any more


def test_postpone_without_one_left_goes_ahead(api: Api, guest: Guest) -> None:
    api.write("UPDATE resource_group SET max_postpones = 0")
    hook(guest.hooks_dir / "enter.d" / "10-later", "exit 69")
    summary = host_once(api)
    assert [w["state"] for w in summary["windows"]] == ["completed"]
    verdict, _, reason, _ = hooks(api)["enter"]
    assert verdict == "go" and "cannot move" in reason and "going ahead" in reason


def test_without_a_guest_agent_the_window_runs_as_before(api: Api) -> None:
    summary = host_once(api)
    assert [w["state"] for w in summary["windows"]] == ["completed"]
    assert hooks(api) == {}
    assert "enter hooks" not in window(api)[4]


@pytest.mark.parametrize("scenario", ["hooks-kernel"])
@pytest.mark.parametrize("booted", ["2.6.38-gentoo", "2.6.32-gentoo"])
def test_a_kernel_activation_is_done_only_when_the_guest_booted_it(
    api: Api, guest: Guest, osrelease: Path, booted: str
) -> None:
    osrelease.write_text(booted + "\n")  # what the guest runs after the restart
    summary = host_once(api)
    state, _, _, outcome, log = window(api)
    assert hooks(api)["leave"][3] == booted
    if booted.startswith("2.6.38"):
        assert (state, outcome) == ("completed", "done")
        assert "booted: the guest runs 2.6.38-gentoo" in log
    else:
        assert (state, outcome) == ("failed", "failed")
        assert "not booted: the guest runs 2.6.32-gentoo, not 2.6.38" in log
    assert summary["windows"][0]["state"] == state


@pytest.mark.parametrize("scenario", ["hooks-kernel"])
def test_no_word_of_the_booted_kernel_fails_the_activation(api: Api, guest: Guest) -> None:
    hook(guest.hooks_dir / "leave.d" / "00-slow", "sleep 5")  # still booting, as it were
    summary = host_once(api, "--boot-wait", "1")
    assert summary["windows"][0]["state"] == "failed"
    assert "did not say which kernel booted within 1 s" in window(api)[4]


def test_a_restarted_host_agent_resumes_waiting(api: Api, guest: Guest, tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    hold.touch()
    hook(guest.hooks_dir / "enter.d" / "10-busy", f"[ ! -e {hold} ] || exit 75")
    argv = [AGENT, *api.args(), *HOST, "--hooks-wait", "120", "once"]
    first = subprocess.Popen(argv, env=api.env(), stdout=subprocess.DEVNULL)
    wait_for(lambda: hooks(api).get("enter", ("", 0))[1] >= 2, "a second ask")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    journal = json.loads((api.state / "journal.json").read_text())
    assert journal["hooks_since"] > 0 and not journal["started"]
    asked = hooks(api)["enter"][1]
    hold.unlink()
    summary = host_once(api)
    assert summary["windows"] == []
    assert summary["resumed"]["state"] == "completed"
    verdict, asks, _, _ = hooks(api)["enter"]
    assert verdict == "go" and asks >= asked  # the same ask went on, never a fresh one
    first_asks = api.rows(
        "SELECT count(*) FROM audit_event WHERE action = 'guest_hook.ask' AND details LIKE ?",
        '%"phase":"enter","asks":1}%',
    )
    assert first_asks == [(1,)]


def test_a_restarted_guest_agent_sends_its_journaled_answer(
    api: Api, hooks_dir: Path, osrelease: Path, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    hook(hooks_dir / "enter.d" / "10-once", f"touch {ran}")
    facts = subprocess.run(
        guest_argv(api, tmp_path, hooks_dir, "--once"),
        env=guest_env(api),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert facts.returncode == 0 and not ran.exists()  # it reported; nothing was asked yet
    argv = [AGENT, *api.args(), *HOST, "once"]
    host = subprocess.Popen(argv, env=api.env(), stdout=subprocess.PIPE, text=True)
    wait_for(lambda: "enter" in hooks(api), "the host agent's ask")
    uid = api.rows("SELECT uid FROM maintenance_window")[0][0]
    # as if the guest agent was killed after it ran the hooks and journaled their answer
    answer = {"window": uid, "phase": "enter", "asks": 1, "reply": "go", "reason": "journaled"}
    (tmp_path / "guest-state" / "guest-hook.json").write_text(json.dumps(answer))
    with running_guest(api, hooks_dir, tmp_path):
        out, _ = host.communicate(timeout=60)
    assert [w["state"] for w in json.loads(out)["windows"]] == ["completed"]
    assert hooks(api)["enter"][:3] == ("go", 1, "journaled")
    assert not ran.exists()  # answered from the journal: the hooks did not run


def test_the_guest_reports_its_facts_on_start_up_and_periodically(
    api: Api, hooks_dir: Path, osrelease: Path, tmp_path: Path
) -> None:
    def kernel() -> str | None:
        return api.rows("SELECT guest_kernel FROM machine WHERE name = 'web01'")[0][0]

    with running_guest(api, hooks_dir, tmp_path, "--facts-interval", "0.5"):
        assert kernel() == "2.6.32-gentoo"  # on start-up, with no update and no hook
        osrelease.write_text("2.6.38-gentoo\n")  # the guest rebooted into another kernel
        wait_for(lambda: kernel() == "2.6.38-gentoo", "a periodic report", 30)
    events = api.rows("SELECT count(*) FROM audit_event WHERE action = 'machine.observe'")
    assert events == [(2,)]  # only changes are audited
