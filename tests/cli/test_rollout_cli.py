"""`fenster rollout create|list|show|preview` through the real CLI process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli.test_foundation_cli import run

NOW = "2027-03-03T09:00Z"  # a Wednesday; the template takes the next week
BERLIN = {"FENSTER_SITE_TIMEZONE": "Europe/Berlin"}


def test_create_list_show_and_preview_on_the_demo_world(tmp_path: Path) -> None:
    db = tmp_path / "f.sqlite3"
    assert run(["migrate"], db).returncode == 0
    assert run(["demo", "--no-serve"], db).returncode == 0
    made = run(["rollout", "create", "su-next", "--title", "Update", "--now", NOW], db, **BERLIN)
    assert made.returncode == 0, made.stderr
    again = run(["rollout", "create", "su-next", "--title", "Update", "--now", NOW], db)
    assert again.returncode == 2 and "a rollout named 'su-next' exists" in again.stderr
    listing = run(["rollout", "list"], db)
    assert "su-next" in listing.stdout and "draft" in listing.stdout
    shown = run(["rollout", "show", "su-next"], db, COLUMNS="200", **BERLIN)
    assert "Mon 2027-03-08 07:00" in shown.stdout and "Sat 2027-03-13 09:00" in shown.stdout

    as_json = run(["rollout", "preview", "su-next", "--json", "--now", NOW], db, **BERLIN)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert [w["selector"] for w in data["waves"]] == [
        "infrastructure",
        "representative",
        "percent",
        "percent",
        "rest",
        "hosts",
    ]
    assert data["waves"][0]["startsAtLocal"].startswith("2027-03-08T07:00")
    table = run(["rollout", "preview", "su-next", "--now", NOW], db, COLUMNS="250", **BERLIN)
    assert table.returncode == 0, table.stderr
    for a in data["activations"]:  # the table shows what --json gives
        assert a["machine"] in table.stdout
    for c in data["conflicts"]:
        assert c["kind"] in table.stdout
    assert "announcing now would break the notice of: " in table.stdout

    refused = run(["rollout", "announce", "su-next", "--now", NOW], db, **BERLIN)
    assert refused.returncode == 2 and "groups: acme:" in refused.stderr, refused.stderr
    forced = run(["rollout", "announce", "su-next", "--force", "--now", NOW], db, **BERLIN)
    assert forced.returncode == 0, forced.stderr
    booked = len(data["hostReboots"]) + sum(1 for a in data["activations"] if a["startsAt"])
    assert f"{booked} windows booked" in forced.stdout
    twice = run(["rollout", "announce", "su-next", "--force", "--now", NOW], db, **BERLIN)
    assert twice.returncode == 2 and "cannot become 'announced'" in twice.stderr

    note = tmp_path / "update.md"
    note.write_text("# Day one\n\nAll **fine**.\n")
    posted = run(["rollout", "update", "su-next", str(note), "--mail"], db)
    assert posted.returncode == 0 and "published and mailed" in posted.stdout, posted.stderr
    why = tmp_path / "why.md"
    why.write_text("A stability issue in the storage system.\n")
    delayed = run(["rollout", "delay", "su-next", str(why), "--now", NOW], db, **BERLIN)
    assert delayed.returncode == 0, delayed.stderr
    soon = ["2027-03-09T06:00Z"] * 6
    refused = run(["rollout", "resume", "su-next", *soon, "--now", NOW], db, **BERLIN)
    assert refused.returncode == 2 and "less than 7 days from now" in refused.stderr
    cancelled = run(["rollout", "cancel", "su-next"], db)
    assert cancelled.returncode == 0, cancelled.stderr

    missing = run(["rollout", "preview", "nope"], db)
    assert missing.returncode == 2 and "rollout 'nope' does not exist" in missing.stderr


def test_run_halt_and_resume_on_the_demo_world(tmp_path: Path) -> None:
    db = tmp_path / "f.sqlite3"
    ops = {"FENSTER_OPERATOR_CONTACTS": "noc@provider.example"}
    assert run(["migrate"], db).returncode == 0
    assert run(["demo", "--no-serve"], db).returncode == 0
    name = "system-update-next-week"
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    # a month on, nobody updated the infrastructure machines: the first wave's gate fails
    ran = run(["rollout", "run", "--now", later], db, **ops)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split("\n")[:2] == ["start Infrastructure", "halt Infrastructure"]
    assert run(["rollout", "run", "--now", later], db, **ops).stdout == "nothing to do now\n"
    shown = run(["rollout", "show", name], db, COLUMNS="200")
    assert "halted" in shown.stdout and "updates still unfinished" in shown.stdout
    again = run(["rollout", "halt", name, "again"], db, **ops)
    assert again.returncode != 0 and "halted" in again.stderr
    dated = run(["rollout", "resume", name, later], db)
    assert dated.returncode == 2 and "start times, one per wave not yet done" in dated.stderr
    resumed = run(["rollout", "resume", name], db)
    assert resumed.returncode == 0 and "resumed" in resumed.stdout, resumed.stderr
    halted = run(["rollout", "halt", name, "storage trouble"], db, **ops)
    assert halted.returncode == 0 and "halted" in halted.stdout, halted.stderr
