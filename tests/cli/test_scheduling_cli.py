"""`fenster schedule` and `fenster windows preview` as a user runs them (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FENSTER = str(Path(sys.executable).with_name("fenster"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environ = dict(os.environ)
    environ["FENSTER_DATABASE_URL"] = f"sqlite://{tmp_path / 'f.sqlite3'}"
    environ["FENSTER_MAILDIR"] = str(tmp_path / "mail")
    environ["FENSTER_SITE_DIR"] = str(tmp_path / "site")
    subprocess.run([FENSTER, "demo", "--no-serve"], env=environ, check=True, capture_output=True)
    return environ


def fenster(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FENSTER, *args], env=env, capture_output=True, text=True, check=False)


def test_schedule_dry_run_then_real_then_nothing_left(env: dict[str, str]) -> None:
    dry = fenster(env, "schedule", "--dry-run", "--now", "2026-11-23T00:00Z")
    assert dry.returncode == 0, dry.stderr
    assert "(dry run: nothing written)" in dry.stdout
    # the demo's announced system update booked every VM's windows: the demo's queued work
    # joins them (sakura-db01's kernel activation waits for an operator: scheduling is off)
    # (its kernel updates queued before were adopted by the rollout's activation windows)
    assert "windows that would be extended: 6" in dry.stdout
    assert "acme-mail01: " in dry.stdout and "cpu change added to this planned window" in dry.stdout
    assert "loaded 7 queued activities" in dry.stderr
    real = fenster(env, "schedule", "--now", "2026-11-23T00:00Z")
    assert real.returncode == 0, real.stderr
    created = [line for line in real.stdout.splitlines() if line.startswith("windows ")][:2]
    assert created == ["windows created: 0", "windows extended: 6"]
    assert "notifications queued: 6" in real.stdout
    again = fenster(env, "schedule", "--now", "2026-11-23T00:00Z")
    assert "windows created: 0" in again.stdout and "activities blocked: 0" in again.stdout


def test_schedule_refuses_a_naive_now(env: dict[str, str]) -> None:
    result = fenster(env, "schedule", "--now", "2026-11-23T00:00")
    assert result.returncode == 2
    assert "give a timezone" in result.stderr


def test_preview_marks_dst(env: dict[str, str]) -> None:
    result = fenster(
        env, "windows", "preview", "acme", "--count", "4", "--now", "2027-03-26T00:00Z"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "next 4 regular windows of acme: 02:00-04:00 Europe/Berlin"
    sunday = next(line for line in lines if line.startswith("Sun 2027-03-28"))
    assert "03:00 CEST - 05:00 CEST" in sunday
    assert "2027-03-28 01:00-03:00Z" in sunday
    assert sunday.endswith("DST: 02:00 does not exist; starts 03:00")
    assert len([line for line in lines if "DST" in line]) == 1
    missing = fenster(env, "windows", "preview", "nope")
    assert missing.returncode == 2 and "resource group 'nope' does not exist" in missing.stderr
