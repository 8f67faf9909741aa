"""The first run as a newcomer meets it: one configuration source, the demo's links on the
port it serves, `windows list`, clear errors. Through the real CLI process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

FENSTER = [sys.executable, "-m", "api.cli"]
ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FENSTER_")}
    environ["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [*FENSTER, *args],
        capture_output=True,
        text=True,
        env={**environ, **env},
        cwd=cwd,
        timeout=180,
        check=False,
    )


def settings_rows(out: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isidentifier():
            rows[parts[0]] = (parts[1], " ".join(parts[2:]))
    return rows


def test_settings_come_from_the_file_with_variables_over_it(tmp_path: Path) -> None:
    (tmp_path / "fenster.toml").write_text('port = 8123\nmail_domain = "file.example"\n')
    shown = run(["settings"], tmp_path, FENSTER_MAIL_DOMAIN="env.example")
    assert shown.returncode == 0, shown.stderr
    rows = settings_rows(shown.stdout)
    assert rows["port"] == ("8123", "fenster.toml")
    assert rows["mail_domain"] == ("env.example", "FENSTER_MAIL_DOMAIN")
    assert rows["public_url"] == ("http://127.0.0.1:8123", "default: from host and port")
    assert rows["horizon_days"] == ("60", "default")
    assert f"configuration file: {tmp_path / 'fenster.toml'} (read)" in shown.stdout


def test_fenster_config_names_the_file_and_bad_entries_are_named(tmp_path: Path) -> None:
    conf = tmp_path / "elsewhere.toml"
    conf.write_text('public_url = "https://maint.example/"\nsmtp_password = "s3cret"\n')
    shown = run(["settings"], tmp_path, FENSTER_CONFIG=str(conf))
    rows = settings_rows(shown.stdout)
    assert rows["public_url"] == ("https://maint.example", str(conf))
    assert rows["smtp_password"] == ("********", str(conf))
    assert "s3cret" not in shown.stdout
    missing = run(["settings"], tmp_path, FENSTER_CONFIG=str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "nope.toml" in missing.stderr
    conf.write_text("port = 'eighty'\nsurprise = 1\n")
    unknown = run(["settings"], tmp_path, FENSTER_CONFIG=str(conf))
    assert unknown.returncode == 2
    assert "unknown setting(s) surprise" in unknown.stderr
    conf.write_text("port = 'eighty'\n")
    wrong = run(["settings"], tmp_path, FENSTER_CONFIG=str(conf))
    assert wrong.returncode == 2
    assert f"{conf}: port must be a whole number, got 'eighty'" in wrong.stderr
    assert "Traceback" not in wrong.stderr + unknown.stderr + missing.stderr


def test_demo_links_point_at_the_port_it_serves(tmp_path: Path) -> None:
    for args, env in (
        (["demo", "--no-serve", "--port", "8177"], {}),
        (["demo", "--no-serve"], {"FENSTER_PORT": "8177"}),
    ):
        out = run(args, tmp_path, **env)
        assert out.returncode == 0, out.stderr
        assert "admin token in var/demo-admin-token" in out.stdout.replace(str(tmp_path) + "/", "")
        token = (tmp_path / "var" / "demo-customer-token-acme").read_text().strip()
        assert f"customer token of group acme: {token}" in out.stdout
        assert "its calendar feed:  http://127.0.0.1:8177/feeds/acme.ics?token=" in out.stdout
        assert "in a calendar app:  webcal://127.0.0.1:8177/feeds/acme.ics?token=" in out.stdout
        assert (
            "GraphiQL with an example query and that token: http://127.0.0.1:8177/graphql?q="
            in out.stdout
        )
        assert ":8000" not in out.stdout
    public = run(
        ["demo", "--no-serve", "--port", "8177"], tmp_path, FENSTER_PUBLIC_URL="https://m.example"
    )
    assert "its calendar feed:  https://m.example/feeds/acme.ics?token=" in public.stdout


def test_windows_list_shows_what_the_scheduler_booked(tmp_path: Path) -> None:
    assert run(["demo", "--no-serve"], tmp_path).returncode == 0
    # the demo's announced system update has booked its windows (host reboots are forced)
    booked = run(["windows", "list"], tmp_path)
    assert booked.returncode == 0 and "planned (forced)" in booked.stdout
    now = "2026-11-30T09:00Z"
    assert run(["schedule", "--now", now], tmp_path).returncode == 0
    listed = run(["windows", "list", "--now", now, "--group", "acme"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == [
        "starts",
        "(local)",
        "time",
        "zone",
        "starts",
        "(UTC)",
        "min",
        "machine",
        "group",
        "state",
    ]
    assert rows and all(
        " acme " in r and r.rstrip().endswith(("planned", "planned (forced)")) for r in rows
    )
    assert all("Europe/Berlin" in r and "CET" in r and "Z " in r for r in rows)
    nope = run(["windows", "list", "--group", "nope"], tmp_path)
    assert nope.returncode == 2 and "'nope' does not exist" in nope.stderr


def test_a_bad_now_is_named_plainly(tmp_path: Path) -> None:
    for args in (["schedule", "--now", "yesterday"], ["windows", "list", "--now", "yesterday"]):
        out = run(args, tmp_path)
        assert out.returncode == 2
        assert "'yesterday' is not an ISO date and time with a zone" in out.stderr
        assert "_instant" not in out.stderr
    naive = run(["schedule", "--now", "2026-12-01T02:00"], tmp_path)
    assert "has no timezone" in naive.stderr


def test_token_list_has_a_header_row(tmp_path: Path) -> None:
    assert run(["demo", "--no-serve"], tmp_path).returncode == 0
    header, *rows = run(["token", "list"], tmp_path).stdout.splitlines()
    assert header.split() == ["id", "prefix", "role", "scope", "state", "name"]
    assert [r.split()[2] for r in rows] == ["admin", "customer"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_says_serving_only_once_the_port_is_bound(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENSTER_")}
    env.update(PYTHONPATH=str(ROOT), FENSTER_SCHEDULE_INTERVAL="0", FENSTER_MAIL_INTERVAL="0")
    assert run(["migrate"], tmp_path).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run(["serve", "--port", str(taken.getsockname()[1])], tmp_path, **env)
    assert busy.returncode != 0
    assert "serving on" not in busy.stdout
    port = _free_port()
    with subprocess.Popen(
        [*FENSTER, "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith(f"fenster: serving on http://127.0.0.1:{port}/")
            assert f"(links point at http://127.0.0.1:{port})" in line
            # the line came after the bind: the port answers at once
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def test_make_demo_passes_the_port_on() -> None:
    """`make demo PORT=8104` serves on 8104 (shown with make -n: nothing is run)."""
    planned = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "demo", "PORT=8104"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert planned.returncode == 0, planned.stderr
    assert ".venv/bin/fenster demo --port 8104" in planned.stdout
    plain = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "demo"], capture_output=True, text=True, timeout=60
    )
    assert ".venv/bin/fenster demo\n" in plain.stdout
