"""Enter and leave hooks end to end: the real API (uvicorn, SQLite), `fenster-agent guest` as
a subprocess running web01's hooks, and the host agent on libvirt's test:/// driver running
web01's window (a reboot: it stops the guest)."""

from __future__ import annotations

import json
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
def guest(api: Api, hooks_dir: Path, tmp_path: Path) -> Iterator[Guest]:
    token = (api.db.parent / "guest-token").read_text().strip()
    argv = [AGENT, "--api", api.url, "--state-dir", str(tmp_path / "guest-state"), "guest"]
    argv += ["--command", DEMO, "--hooks-dir", str(hooks_dir), "--hook-timeout", "10"]
    argv += ["--interval", "0.3"]
    log = (tmp_path / "guest.log").open("w")
    proc = subprocess.Popen(
        argv, env={**api.env(), "FENSTER_AGENT_TOKEN": token}, stdout=log, stderr=log, text=True
    )
    try:
        wait_for(lambda: reported(api), "the guest agent's first report")
        yield Guest(api, hooks_dir, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


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
