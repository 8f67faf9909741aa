"""`fenster announce`, `fenster catalog import`, `fenster site`: through the real CLI process."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.cli.test_foundation_cli import run

SHA = "0123456789abcdef" * 4


def _migrated(tmp_path: Path) -> Path:
    db = tmp_path / "f.sqlite3"
    assert run(["migrate"], db).returncode == 0
    return db


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


def test_catalog_import_reports_every_bad_row_and_writes_nothing(tmp_path: Path) -> None:
    db = _migrated(tmp_path)
    bad = tmp_path / "release.csv"
    bad.write_text(
        "name,version,sha256,notes\n"
        f"linux,2.6.38,{SHA},kernel\n"
        "python,2.7.1,nothex,\n"
        f"linux,2.6.38,{'f' * 64},same version other sum\n"
        f"python,3.1.3,{SHA[:-1]},short\n"
    )
    out = run(["catalog", "import", str(bad)], db)
    assert out.returncode == 2
    for row in ("rows[1].sha256", "rows[2].sha256", "rows[3].sha256"):
        assert row in out.stderr
    assert "rows[0]" not in out.stderr
    assert _count(db, "SELECT count(*) FROM package_release") == 0


def test_catalog_import_csv_then_json_and_again(tmp_path: Path) -> None:
    db = _migrated(tmp_path)
    csv_file = tmp_path / "a.csv"
    csv_file.write_text(f"name,version,sha256\nlinux,2.6.38,{SHA}\n")
    first = run(["catalog", "import", str(csv_file), "--released-at", "2011-08-22"], db)
    assert first.returncode == 0 and "1 added, 0 unchanged" in first.stdout, first.stderr
    json_file = tmp_path / "b.json"
    json_file.write_text(
        json.dumps(
            [
                {"name": "linux", "version": "2.6.38", "sha256": SHA},
                {"name": "python", "version": "2.7.1", "sha256": SHA, "notes": "maintenance"},
            ]
        )
    )
    second = run(["catalog", "import", str(json_file)], db)
    assert second.returncode == 0 and "1 added, 1 unchanged" in second.stdout, second.stderr
    assert _count(db, "SELECT count(*) FROM package_release") == 2
    broken = tmp_path / "c.json"
    broken.write_text('[{"name": "x"}, 3]')
    third = run(["catalog", "import", str(broken)], db)
    assert third.returncode == 2 and "rows[0]" in third.stderr and "rows[1]" in third.stderr


def test_announce_new_edit_and_the_site_shows_it_once_published(tmp_path: Path) -> None:
    db = _migrated(tmp_path)
    text = tmp_path / "note.md"
    text.write_text("# Kernel update next week\n\nWe update Linux to 2.6.38.\n")
    made = run(["announce", "new", "kernel-2-6-38", str(text)], db)
    assert made.returncode == 0 and "Kernel update next week" in made.stdout, made.stderr
    dup = run(["announce", "new", "kernel-2-6-38", str(text)], db)
    assert dup.returncode == 2 and "already exists" in dup.stderr
    text.write_text("# Kernel update on Monday\n\nWe update Linux to 2.6.38 on Monday.\n")
    assert run(["announce", "edit", "kernel-2-6-38", str(text)], db).returncode == 0
    with sqlite3.connect(db) as conn:
        title, body, published = conn.execute(
            "SELECT title, body, published_at FROM announcement"
        ).fetchone()
    assert (title, published) == ("Kernel update on Monday", None)
    assert body == "We update Linux to 2.6.38 on Monday.\n"
    built = run(["site", "build"], db)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Kernel update" not in (tmp_path / "site" / "index.html").read_text()  # a draft
    missing = run(["announce", "publish", "nope"], db)
    assert missing.returncode == 2 and "nope" in missing.stderr
    assert run(["demo", "--no-serve"], db).returncode == 0  # groups to mail; builds the site
    published = run(["announce", "publish", "kernel-2-6-38", "--group", "acme"], db)
    assert published.returncode == 0 and "1 mail(s) queued" in published.stdout
    assert run(["site", "build"], db).returncode == 0
    home = (tmp_path / "site" / "index.html").read_text()
    assert "Kernel update on Monday" in home and "We update Linux to 2.6.38 on Monday." in home
