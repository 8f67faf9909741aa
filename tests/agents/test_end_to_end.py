"""`fenster-agent` as a subprocess against the real API (uvicorn, SQLite) and libvirt's
test driver: windows done, crash drill, lock."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from agents.host.journal import StateLock

from .conftest import AGENT, Api, free_port


def windows(api: Api) -> dict[str, str]:
    return dict(
        api.rows(
            "SELECT m.name, w.state FROM maintenance_window w JOIN machine m ON m.id = w.machine_id"
        )
    )


def activities(api: Api) -> list[tuple[str, str, str, int, str]]:
    return api.rows(
        "SELECT m.name, a.kind, a.state, a.attempts, a.log FROM activity a"
        " JOIN machine m ON m.id = a.machine_id ORDER BY a.id"
    )


def observed(api: Api, name: str) -> tuple:
    return api.rows(
        "SELECT observed_memory_mib, observed_cores, observed_kernel, observed_state"
        " FROM machine WHERE name = ?",
        name,
    )[0]


def test_once_carries_out_the_due_windows(api: Api) -> None:
    assert windows(api) == {"web01": "planned", "db01": "planned"}
    done = api.agent("once")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [(w["machine"], w["state"]) for w in summary["windows"]] == [
        ("web01", "completed"),
        ("db01", "completed"),
    ]
    assert summary["windows"][0]["activities"] == {
        "memory_resize": "done",
        "cpu_change": "done",
        "kernel_update": "done",
    }
    assert windows(api) == {"web01": "completed", "db01": "completed"}
    rows = activities(api)
    assert [(m, k, s, n) for m, k, s, n, _ in rows] == [
        ("web01", "memory_resize", "done", 1),
        ("web01", "cpu_change", "done", 1),
        ("web01", "kernel_update", "done", 1),
        ("db01", "reboot", "done", 1),
    ]
    logs = {k: log for _, k, _, _, log in rows}
    assert "wanted=8192MiB found=2048MiB(max 4096MiB) action=set-memory" in logs["memory_resize"]
    assert "wanted=4 found=2 action=set-vcpus" in logs["cpu_change"]
    assert "wanted=2.6.38 found=2.6.32 action=set-kernel" in logs["kernel_update"]
    assert "db01 wanted=shut off found=running action=shutdown" in logs["reboot"]
    assert observed(api, "web01") == (8192, 4, "2.6.38", "running")
    assert observed(api, "db01") == (1024, 1, "2.6.32", "running")
    assert api.rows("SELECT cpu_model FROM machine WHERE name = 'kvm01'") == [
        ("AMD Opteron(tm) Processor 6174",)
    ]
    assert not (api.state / "journal.json").exists()
    again = api.agent("once")  # nothing due any more
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["windows"] == []


def test_killed_mid_window_finishes_exactly_once(api: Api) -> None:
    crashed = api.agent("once", FENSTER_AGENT_TEST_CRASH_AFTER="ensure_vcpus")
    assert crashed.returncode == -signal.SIGKILL
    journal = json.loads((api.state / "journal.json").read_text())
    assert (journal["machine"], journal["started"], journal["results"]) == ("web01", True, None)
    assert windows(api) == {"web01": "running", "db01": "planned"}

    resumed = api.agent("once")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed"]["window"] == journal["uid"]
    assert summary["resumed"]["state"] == "completed"
    assert [w["machine"] for w in summary["windows"]] == ["db01"]
    assert windows(api) == {"web01": "completed", "db01": "completed"}
    rows = activities(api)
    assert [(s, n) for _, _, s, n, _ in rows] == [("done", 1)] * 4  # started once, done once
    resumed_at = [log.find("resumed after an interrupted run (attempt 2)") for *_, log in rows]
    assert all(at >= 0 for at in resumed_at[:3])
    memory_log, cpu_log = rows[0][4], rows[1][4]
    assert 0 <= memory_log.find("action=set-memory") < resumed_at[0]  # kept, not "none" only
    assert 0 <= cpu_log.find("action=set-vcpus") < resumed_at[1]
    finishes = api.rows("SELECT count(*) FROM audit_event WHERE action = 'window.finish'")
    assert finishes == [(2,)]
    notes = api.rows("SELECT kind, count(*) FROM notification GROUP BY kind ORDER BY kind")
    assert ("window_completed", 2) in notes
    assert observed(api, "web01") == (8192, 4, "2.6.38", "running")
    assert not (api.state / "journal.json").exists()


def test_killed_after_finishing_sends_the_same_outcome_again(api: Api) -> None:
    crashed = api.agent("once", FENSTER_AGENT_TEST_CRASH_AFTER="window_finished")
    assert crashed.returncode == -signal.SIGKILL
    assert windows(api) == {"web01": "completed", "db01": "planned"}
    assert json.loads((api.state / "journal.json").read_text())["results"] is not None
    resumed = api.agent("once")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["resumed"]["state"] == "completed"
    assert windows(api) == {"web01": "completed", "db01": "completed"}
    finishes = api.rows("SELECT count(*) FROM audit_event WHERE action = 'window.finish'")
    assert finishes == [(2,)]


def test_second_agent_exits_tempfail_while_the_first_runs(api: Api) -> None:
    first = subprocess.Popen(
        [AGENT, *api.args(), "run", "--interval", "30"],
        env=api.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while windows(api) != {"web01": "completed", "db01": "completed"}:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the running agent did not do its work"
            time.sleep(0.1)
        second = api.agent("once")
        assert second.returncode == 75
        assert "holds" in second.stderr and str(first.pid) in second.stderr
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=10)
        assert first.returncode == 0, err
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    with StateLock(api.state):  # released on exit
        pass


def test_token_and_api_problems_are_clear(api: Api, tmp_path: Path) -> None:
    refused = api.agent("once", FENSTER_AGENT_TOKEN="fa_not_a_token")
    assert refused.returncode == 2
    assert "fa_not_a_token" not in refused.stderr + refused.stdout
    assert "PermissionDenied" in refused.stderr and "check the token" in refused.stderr
    missing = api.agent("--token-file", str(tmp_path / "nope"), "once")
    assert missing.returncode == 2 and "token file" in missing.stderr
    url = f"http://127.0.0.1:{free_port()}/graphql"  # nobody listens there
    down = api.agent("--api", url, "--retries", "1", "once")
    assert down.returncode == 1 and "API unreachable" in down.stderr
