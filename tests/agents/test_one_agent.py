"""One window, one agent (issue 15, section 4): startWindow is a claim by the agent's
identity; a second agent (another state directory) is refused and leaves the guest alone."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from agents.cli import DEFAULT_STATE_DIR, build_parser

from .conftest import Api

START = (
    "mutation($input: StartWindowInput!) { startWindow(input: $input) { __typename"
    " ... on ValidationError { fields { field message } } } }"
)


def test_two_agents_one_window(api: Api, tmp_path: Path) -> None:
    first = api.agent("once", FENSTER_AGENT_TEST_CRASH_AFTER="ensure_vcpus")
    assert first.returncode == -signal.SIGKILL  # web01's window is running, claimed by it
    first_id = (api.state / "agent-id").read_text().strip()
    other = tmp_path / "other-state"
    second = api.agent("--state-dir", str(other), "once")
    assert second.returncode == 0, second.stderr
    second_id = (other / "agent-id").read_text().strip()
    assert second_id != first_id
    summary = json.loads(second.stdout)
    assert [(w["machine"], w["state"]) for w in summary["windows"]] == [("db01", "completed")]
    uid = json.loads((api.state / "journal.json").read_text())["uid"]
    answer = httpx.post(
        api.url,
        json={"query": START, "variables": {"input": {"window": uid, "agent": second_id}}},
        headers={"Authorization": f"Bearer {api.token}"},
    ).json()["data"]["startWindow"]
    assert answer["__typename"] == "ValidationError"
    assert f"is claimed by agent {first_id}" in answer["fields"][0]["message"]
    resumed = api.agent("once")  # the first agent: its claim, its window
    assert json.loads(resumed.stdout)["resumed"]["state"] == "completed", resumed.stderr
    starts = api.rows(
        "SELECT subject_name, details FROM audit_event WHERE action = 'window.start' ORDER BY id"
    )
    assert [json.loads(d)["agent"] for _, d in starts] == [first_id, second_id]
    [(attempts,)] = api.rows("SELECT DISTINCT attempts FROM activity")
    assert attempts == 1  # each window started once


def test_the_default_state_dir_is_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FENSTER_AGENT_STATE_DIR", raising=False)
    assert build_parser().parse_args(["once"]).state_dir == Path("/var/lib/fenster-agent")
    assert DEFAULT_STATE_DIR.is_absolute()
    monkeypatch.setenv("FENSTER_AGENT_STATE_DIR", "/srv/agent")
    assert build_parser().parse_args(["once"]).state_dir == Path("/srv/agent")
    assert build_parser().parse_args(["--state-dir", "x", "once"]).state_dir == Path("x")
