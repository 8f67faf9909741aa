"""`fenster rollout status NAME [--watch]` through the real CLI process, on the demo world: the
waves' counts and gate verdicts, the next event in the operators' zone, the failed machines with
their errors; a watch without a terminal prints plainly and ends on Ctrl-C with exit 0, or by
itself once the rollout is halted."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from api.commands.rollout_status import bar_widths
from tests.cli.test_foundation_cli import FENSTER, run

NAME = "system-update-next-week"
ENV = {"FENSTER_SITE_TIMEZONE": "Europe/Berlin", "COLUMNS": "250"}


def first_wave(db: Path) -> tuple[datetime, int, list[tuple[int, str]]]:
    """The infrastructure wave's start and soak, and its system updates (id, machine name)."""
    with sqlite3.connect(db) as conn:
        start, soak, wave_id = conn.execute(
            "SELECT w.starts_at, w.soak_minutes, w.id FROM rollout_wave w"
            " JOIN rollout r ON r.id = w.rollout_id WHERE w.position = 1 AND r.name = ?",
            [NAME],
        ).fetchone()
        rows = conn.execute(
            "SELECT a.id, m.name FROM activity a JOIN machine m ON m.id = a.machine_id"
            " JOIN rollout_member rm ON rm.machine_id = a.machine_id"
            " WHERE a.kind = 'system_update' AND rm.wave_id = ?"
            " AND a.rollout_id = rm.rollout_id ORDER BY m.name",
            [wave_id],
        ).fetchall()
    return datetime.fromisoformat(start), int(soak), [(int(i), str(n)) for i, n in rows]


def finish(db: Path, ids: list[int], state: str, at: datetime, log: str, code: int) -> None:
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "UPDATE activity SET state = ?, log = ?, exit_code = ?, finished_at = ? WHERE id = ?",
            [(state, log, code, at.isoformat(sep=" "), i) for i in ids],
        )


def demo(tmp_path: Path) -> Path:
    db = tmp_path / "f.sqlite3"
    assert run(["migrate"], db).returncode == 0
    assert run(["demo", "--no-serve"], db).returncode == 0
    return db


def test_status_shows_counts_verdicts_next_event_and_failures(tmp_path: Path) -> None:
    db = demo(tmp_path)
    start, soak, updates = first_wave(db)
    assert len(updates) >= 2
    assert run(["rollout", "run", "--now", start.isoformat()], db).stdout.startswith("start")
    at = start + timedelta(minutes=10)
    (bad_id, bad), *good = updates
    finish(db, [i for i, _ in good], "done", at, "ok", 0)
    finish(db, [bad_id], "failed", at, "Reading lists\nE: dpkg was interrupted", 100)

    shown = run(["rollout", "status", NAME, "--now", at.isoformat()], db, **ENV)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert f"{len(good)}/{len(updates)}" in out and "failing" in out
    assert "the infrastructure wave allows none" in out
    judged = (start + timedelta(minutes=soak)).astimezone(ZoneInfo("Europe/Berlin"))
    assert f"is judged (end of its soak) at {judged:%a %Y-%m-%d %H:%M} (Europe/Berlin)" in out
    assert bad in out and "E: dpkg was interrupted" in out and "100" in out
    assert "Failed updates" in out

    # the gate fails: halted, nothing next; a watch ends by itself
    assert "halt" in run(["rollout", "run", "--now", judged.isoformat()], db).stdout
    watched = run(["rollout", "status", NAME, "--watch", "--interval", "0.1"], db, **ENV)
    assert watched.returncode == 0, watched.stderr
    assert ": halted" in watched.stdout and "next: nothing without an operator" in watched.stdout
    assert watched.stdout.count("next: ") == 1  # printed once: it was already halted

    # the failed machine: skipped (the status counts it so), then retried after all
    skipped = run(["rollout", "skip", NAME, bad], db)
    assert skipped.returncode == 0 and "stays on its current packages" in skipped.stdout
    shown = run(["rollout", "status", NAME, "--now", judged.isoformat()], db, **ENV)
    assert "(+1 skipped)" in shown.stdout and "Failed updates" not in shown.stdout
    retried = run(["rollout", "retry", NAME, bad], db)
    assert retried.returncode == 0, retried.stderr
    assert "due once the rollout is resumed" in retried.stdout
    for machine, error in ((bad, "not failed"), (good[0][1], "not failed"), ("nope", "exist")):
        refused = run(["rollout", "retry", NAME, machine], db)
        assert refused.returncode == 2 and error in refused.stderr, refused.stderr

    missing = run(["rollout", "status", "nope"], db)
    assert missing.returncode == 2 and "rollout 'nope' does not exist" in missing.stderr
    bad_interval = run(["rollout", "status", NAME, "--interval", "0"], db)
    assert bad_interval.returncode == 2 and "between 0.1 and 3600" in bad_interval.stderr


def test_a_watch_without_a_terminal_prints_each_interval_and_ctrl_c_exits_0(
    tmp_path: Path,
) -> None:
    db = demo(tmp_path)
    start, _, _ = first_wave(db)
    assert run(["rollout", "run", "--now", start.isoformat()], db).returncode == 0
    env = {
        **os.environ,
        **ENV,
        "FENSTER_DATABASE_URL": f"sqlite://{db}",
        "FENSTER_SITE_DIR": str(tmp_path / "site"),
    }
    cmd = [*FENSTER, "rollout", "status", NAME, "--watch", "--interval", "0.2"]
    with subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        seen = 0
        for line in proc.stdout:
            seen += line.startswith("next: ")
            if seen == 2:  # two reads printed: it redraws each interval
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert seen == 2
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=6), st.integers(1, 80))
def test_bar_widths_fill_the_bar_in_proportion(counts: list[int], width: int) -> None:
    got = bar_widths(counts, width)
    total = sum(counts)
    assert sum(got) == (width if total else 0)
    for c, w in zip(counts, got, strict=True):
        assert c or not w  # nothing to count, no character
        if total:
            assert abs(w - c * width / total) < 1  # each within one character of its share


def test_in_a_pipe_long_wave_and_machine_names_are_not_cut(tmp_path: Path) -> None:
    """Without a terminal and without $COLUMNS, rich would draw 80 columns and cut names."""
    db = demo(tmp_path)
    start, _, updates = first_wave(db)
    wave = "the-first-wave-of-this-rollout-has-a-long-name-of-sixty-chars"
    machine = "a-machine-with-a-name-as-long-as-a-dns-label-may-be-63-chars-x"
    (bad_id, bad), *_ = updates
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE rollout_wave SET name = ? WHERE position = 1", [wave])
        conn.execute("UPDATE machine SET name = ? WHERE name = ?", [machine, bad])
    assert run(["rollout", "run", "--now", start.isoformat()], db).returncode == 0
    at = start + timedelta(minutes=10)
    finish(db, [bad_id], "failed", at, "E: dpkg was interrupted", 100)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(FENSTER_DATABASE_URL=f"sqlite://{db}", FENSTER_SITE_DIR=str(tmp_path / "site"))
    cmd = [*FENSTER, "rollout", "status", NAME, "--now", at.isoformat()]
    shown = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any(wave in line and "failing" in line for line in lines), shown.stdout
    assert any(machine in line and "E: dpkg was interrupted" in line for line in lines)
    assert max(map(len, lines)) > 80  # wider than rich's default, and not padded to 1000:
    assert max(map(len, lines)) < 400
