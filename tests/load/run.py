"""`make loadtest`: issue 14's load against `fenster serve --workers 2` on PostgreSQL, then the
same agents' polls against the plain Starlette floor, in one run; prints a table per request
type and the goals (zero errors, p99 under 100 ms). A load test is not a test: it reports a
miss and exits 0. Loopback only; bounded by --seconds per target.

    .venv/bin/python tests/load/run.py [--agents 10000] [--calendars 500] [--seconds 180]
        [--workers 2] [--database-url postgres://postgres@127.0.0.1:5432/postgres]

The database named in --database-url (or FENSTER_TEST_POSTGRES) is only used to create and
drop a fresh database ``fenster_load_<random>``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from api import db  # noqa: E402
from api.settings import Settings  # noqa: E402
from tests.drills.servers import free_port  # noqa: E402
from tests.load.world import populate  # noqa: E402

GOAL_P99_MS = 100
BIN = Path(sys.executable).parent


def database_urls(base: str) -> tuple[str, str]:
    """(admin URL on database `postgres`, URL of a new load database) on base's server."""
    server = base.rsplit("/", 1)[0]
    return f"{server}/postgres", f"{server}/fenster_load_{uuid.uuid4().hex[:10]}"


async def create(admin: str, url: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
    finally:
        await conn.close()


async def drop(admin: str, url: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def prepare(url: str, args: argparse.Namespace, clients: Path) -> None:
    await db.init(Settings(database_url=url))
    try:
        await db.migrate()
        t = time.perf_counter()
        world = await populate(args.agents, args.groups, args.due_share, args.calendars)
        world.save(clients)
        print(
            f"world: {args.agents} hosts with agent tokens, {2 * args.agents} VMs in "
            f"{args.groups} groups, {len(world.due)} due windows, {len(world.feeds)} calendar "
            f"clients ({time.perf_counter() - t:.1f} s)",
            flush=True,
        )
    finally:
        await db.close()


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code in (200, 404, 405):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {seconds} s")


def locust(host: str, users: int, args: argparse.Namespace, env: dict[str, str], out: Path) -> Path:
    prefix = out / "stats"
    command = [
        str(BIN / "locust"), "-f", str(ROOT / "tests/load/locustfile.py"), "--headless",
        "-u", str(users), "-r", str(args.spawn_rate), "-t", f"{args.seconds}s",
        "--host", host, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
        "--stop-timeout", "10",
    ]  # fmt: skip
    subprocess.run(command, env=env, cwd=ROOT, check=False, timeout=args.seconds + 120)
    return Path(f"{prefix}_stats.csv")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate; a server still draining keep-alive connections after 30 s is killed."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def table(stats: Path) -> list[dict[str, str]]:
    with stats.open() as f:
        return list(csv.DictReader(f))


def report(title: str, rows: list[dict[str, str]]) -> tuple[int, list[str]]:
    print(f"\n{title}")
    print(
        f"{'request':24} {'count':>8} {'errors':>7} {'req/s':>8} {'p50':>6} {'p95':>6} {'p99':>6}"
    )
    errors, misses = 0, []
    for r in rows:
        name = r["Name"] if r["Name"] != "Aggregated" else "all"
        count, failed = int(r["Request Count"]), int(r["Failure Count"])
        p50, p95, p99 = r["50%"], r["95%"], r["99%"]
        print(
            f"{name:24} {count:8d} {failed:7d} {float(r['Requests/s']):8.1f} "
            f"{p50:>6} {p95:>6} {p99:>6}"
        )
        if name != "all":
            errors += failed
            if p99 != "N/A" and float(p99) >= GOAL_P99_MS:
                misses.append(f"{name} p99 {p99} ms")
    return errors, misses


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--agents", type=int, default=10_000)
    p.add_argument("--calendars", type=int, default=500)
    p.add_argument("--groups", type=int, default=1_000)
    p.add_argument("--due-share", type=float, default=0.02)
    p.add_argument("--seconds", type=int, default=180)
    p.add_argument("--spawn-rate", type=int, default=1_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "FENSTER_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = p.parse_args()
    admin, url = database_urls(args.database_url)
    with tempfile.TemporaryDirectory(prefix="fenster-load-") as tmp:
        work = Path(tmp)
        clients = work / "clients.json"
        asyncio.run(create(admin, url))
        procs: list[subprocess.Popen[bytes]] = []
        try:
            asyncio.run(prepare(url, args, clients))
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "FENSTER_DATABASE_URL": url,
                "FENSTER_MAIL_INTERVAL": "0",
                "FENSTER_SITE_INTERVAL": "0",
                "FENSTER_MAILDIR": str(work / "mail"),
                "FENSTER_SITE_DIR": str(work / "site"),
                "FENSTER_LINK_SECRET": "load-test-link-secret-" + "x" * 32,
                "LOAD_CLIENTS": str(clients),
            }
            results = {}
            for target in ("fenster", "floor"):
                port = free_port()
                if target == "fenster":
                    command = [str(BIN / "fenster"), "serve", "--port", str(port),
                               "--workers", str(args.workers)]  # fmt: skip
                    probe, users = f"http://127.0.0.1:{port}/readyz", args.agents + args.calendars
                else:
                    command = [str(BIN / "uvicorn"), "--factory", "tests.load.floor:create_app",
                               "--port", str(port), "--workers", str(args.workers),
                               "--log-level", "warning",
                               "--timeout-graceful-shutdown", "5"]  # fmt: skip
                    probe, users = f"http://127.0.0.1:{port}/due", args.agents
                log = (work / f"{target}.log").open("wb")
                proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
                procs.append(proc)
                wait_ready(probe, proc)
                out = work / target
                out.mkdir()
                print(f"\n{target}: {users} simulated clients for {args.seconds} s ...", flush=True)
                stats = locust(
                    f"http://127.0.0.1:{port}", users, args, {**env, "LOAD_TARGET": target}, out
                )
                results[target] = table(stats)
                stop(proc)
            errors, misses = report(
                f"fenster serve --workers {args.workers} (PostgreSQL)", results["fenster"]
            )
            floor_errors, _ = report(
                "plain Starlette floor, the same dueWork polls", results["floor"]
            )

            def row(rows: list[dict[str, str]], name: str) -> dict[str, str]:
                return next(r for r in rows if r["Name"] == name)

            mine, floor = (
                row(results["fenster"], "dueWork"),
                row(results["floor"], "dueWork (floor)"),
            )
            print(
                f"\ndueWork p50 {mine['50%']} ms vs floor {floor['50%']} ms; "
                f"p99 {mine['99%']} ms vs floor {floor['99%']} ms"
            )
            print(f"goal: zero errors: {'OK' if errors == 0 else f'MISSED ({errors})'}")
            verdict = "OK" if not misses else "MISSED: " + ", ".join(misses)
            print(f"goal: p99 under {GOAL_P99_MS} ms: {verdict}")
            if floor_errors:
                print(f"(the floor had {floor_errors} errors)")
        finally:
            for proc in procs:
                stop(proc)
            asyncio.run(drop(admin, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
