"""The guest's hooks as agents.guest.hooks runs them (name order, the first that does not exit
0 decides, exit codes to replies, timeouts), and the booted-kernel rule (a property)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agents.guest.hooks import run_hooks
from agents.host.hooks import kernel_matches


def hook(d: Path, name: str, body: str, executable: bool = True) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(f"#!/bin/sh\n{body}\n")
    (d / name).chmod(0o755 if executable else 0o644)


def test_hooks_run_in_name_order_and_the_first_refusal_decides(tmp_path: Path) -> None:
    order = tmp_path / "order"
    enter = tmp_path / "hooks" / "enter.d"
    hook(enter, "20-second", f"echo 20 >> {order}; echo still busy; exit 75")
    hook(enter, "10-first", f'echo "10 $FENSTER_HOOK_PHASE $FENSTER_WINDOW" >> {order}')
    hook(enter, "30-never", f"echo 30 >> {order}")
    hook(enter, ".hidden", f"echo hidden >> {order}")
    hook(enter, "15-not-executable", f"echo plain >> {order}", executable=False)
    reply, reason = run_hooks(tmp_path / "hooks", "enter", "w1@fenster", 10, tmp_path / "log")
    assert order.read_text().split("\n") == ["10 enter w1@fenster", "20", ""]
    assert reply == "not_yet"
    assert reason.startswith("enter hook 20-second: exit 75: not yet") and "still busy" in reason


def test_exit_codes_and_timeouts(tmp_path: Path) -> None:
    cases = {"exit 0": "go", "exit 69": "postpone", "exit 75": "not_yet", "exit 3": "not_yet"}
    for i, (body, wanted) in enumerate(cases.items()):
        hooks = tmp_path / str(i)
        hook(hooks / "enter.d", "10-x", body)
        assert run_hooks(hooks, "enter", "w", 10, tmp_path / "log")[0] == wanted, body
        hook(hooks / "leave.d", "10-x", body)  # leave hooks cannot postpone
        assert run_hooks(hooks, "leave", "w", 10, tmp_path / "log")[0] == (
            "not_yet" if wanted == "postpone" else wanted
        )
    hook(tmp_path / "slow" / "enter.d", "10-slow", "sleep 30")
    reply, reason = run_hooks(tmp_path / "slow", "enter", "w", 0.5, tmp_path / "log")
    assert reply == "not_yet" and "timed out" in reason
    assert run_hooks(tmp_path / "none", "enter", "w", 1, tmp_path / "log") == ("go", "")


VERSION = st.from_regex(r"\A[0-9]{1,2}(\.[0-9]{1,2}){1,3}\Z")


@given(VERSION, st.from_regex(r"\A[a-z0-9]{1,8}\Z"))
def test_a_kernel_with_a_local_version_is_the_one_wanted(version: str, local: str) -> None:
    assert kernel_matches(version, version)
    assert kernel_matches(f"{version}-{local}", version)
    assert not kernel_matches(f"{version}.{local}", version)  # 2.6.38.1 is not 2.6.38


@given(VERSION, VERSION)
def test_another_version_is_not_the_one_wanted(a: str, b: str) -> None:
    if a != b and not a.startswith(f"{b}-"):
        assert not kernel_matches(a, b)
