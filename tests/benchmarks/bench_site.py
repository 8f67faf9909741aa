"""Benchmark of the notice site build (run on demand, not collected).

    .venv/bin/python tests/benchmarks/bench_site.py [--announcements 200] [--packages 5000]
        [--runs 3]

A fresh SQLite directory with ``--announcements`` published announcements and ``--packages``
catalog entries (not timed). The floor: the pages generated once and written beforehand, then a
plain ``mkdocs build`` of that Markdown with the same mkdocs.yml (a subprocess, as fenster runs
it). Measured: ``fenster site build`` (the whole command: open the database, load the values,
render, write, mkdocs build, swap in), and the rebuild after one new announcement. Medians of
``--runs`` runs. Goal (issue 13): ``fenster site build`` <= 1.3x the plain build. A miss is
reported, not raised.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from api import db
from api.models import Announcement, PackageRelease
from api.publish.build import write_source
from api.publish.pages import render_site
from api.publish.values import SiteView
from api.services.site import load_site_view
from api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GOAL = 1.3
BODY = (
    "We will update the machines of the {n}th group of hosts.\n\n"
    "## What changes\n\n- Linux 2.6.38\n- Python 2.7.1\n\n"
    "| wave | when |\n|---|---|\n| one | Monday |\n| two | Tuesday |\n"
)


async def populate(settings: Settings, announcements: int, packages: int) -> SiteView:
    await db.init(settings)
    await db.migrate()
    start = datetime(2011, 1, 1, tzinfo=UTC)
    await Announcement.bulk_create(
        [
            Announcement(
                slug=f"notice-{i:04d}",
                title=f"Notice number {i}",
                body=BODY.format(n=i),
                published_at=start + timedelta(days=i),
            )
            for i in range(announcements)
        ]
    )
    await PackageRelease.bulk_create(
        [
            PackageRelease(
                name=f"{chr(97 + i % 26)}pkg{i // 26:04d}",
                version=f"1.{i % 7}",
                sha256=f"{i:064x}",
                released_at=start + timedelta(days=i % 30),
                summary="a package",
            )
            for i in range(packages)
        ],
        batch_size=1000,
    )
    view = await load_site_view(settings)
    await db.close()
    return view


def run(cmd: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    took = time.perf_counter() - began
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return took


async def add_one(settings: Settings, i: int) -> None:
    async with db.database(settings):
        await Announcement.create(
            slug=f"new-{i}", title=f"New {i}", body="Hello.", published_at=datetime.now(UTC)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--announcements", type=int, default=200)
    parser.add_argument("--packages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        work = Path(tmp)
        url = f"sqlite://{work / 'bench.sqlite3'}"
        settings = Settings(database_url=url, site_dir=str(work / "site"))
        view = asyncio.run(populate(settings, args.announcements, args.packages))
        source = work / "source"
        pages = render_site(view)
        write_source(pages, source, docs=ROOT / "docs", manual=False)
        print(
            f"site: {args.announcements} announcements, {args.packages} catalog entries, "
            f"{sum(1 for p in pages if p.endswith('.md'))} generated pages"
        )
        env = {
            **os.environ,
            "FENSTER_DATABASE_URL": url,
            "FENSTER_SITE_DIR": str(work / "site"),
            "NO_MKDOCS_2_WARNING": "1",
        }
        plain_cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml"]
        plain_env = {**env, "FENSTER_SITE_SOURCE": str(source)}
        fenster_cmd = [sys.executable, "-m", "api.cli", "site", "build"]
        plain, full, rebuild = [], [], []
        for i in range(args.runs):
            plain.append(run([*plain_cmd, "-d", str(work / f"plain-{i}")], plain_env))
            full.append(run(fenster_cmd, env))
            asyncio.run(add_one(settings, i))
            rebuild.append(run(fenster_cmd, env))
        floor, ours, again = (statistics.median(x) for x in (plain, full, rebuild))
        print(f"plain mkdocs build (Markdown written beforehand): {floor:6.2f} s (median)")
        print(
            f"fenster site build:                               {ours:6.2f} s  {ours / floor:.2f}x"
        )
        rebuilt = f"{again:6.2f} s  {again / floor:.2f}x"
        print(f"rebuild after one new announcement:               {rebuilt}")
        verdict = "met" if ours / floor <= GOAL else "MISSED"
        print(f"goal fenster site build <= {GOAL}x plain: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
