"""The seed's week end to end: `fenster serve` with its wave engine under a clock the test moves
(tests.agents.seed_server), a host agent per demo host on libvirt's test driver, guest agents
as processes for a sample of machines (the rest report through the same API with their own
guest tokens), from the Wednesday of the announcement to the Sunday after the host reboots.

Checks: every VM is updated once; its kernel is activated in a window after its wave; it is
rebooted exactly twice (the activation, and with its host); the hosts reboot on Saturday; each
group's mail comes in order; the rollout completes. On the way the server is SIGKILLed twice
and started again on the same database and clock: nothing is lost or done twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import asyncpg
import httpx
import pytest

from agents.client import Client
from api.scheduling import Policy, occurrences
from tests.agents.conftest import AGENT, ROOT, free_port
from tests.conftest import BACKENDS, POSTGRES, drop_postgres_database, postgres_url

pytestmark = pytest.mark.slow

SUNDAY = datetime(2027, 3, 21, 23, 0, tzinfo=UTC)
GUEST_PROCESSES = ("everest-web01", "sakura-web01", "utc-labs-web02", "mirror01")
ONE_STEP = 90  # seconds of real time a step may take to settle (a loaded CI machine)


def utc(value: str | datetime) -> datetime:
    """A time from either database (SQLite: text, PostgreSQL: a datetime), in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC)


@dataclass
class Week:
    """The served world, its agents, and the clock."""

    dir: Path
    port: int
    database: str  # the server's database URL (SQLite in dir, or a PostgreSQL database)
    world: dict = field(default_factory=dict)
    server: subprocess.Popen | None = None
    procs: list[subprocess.Popen] = field(default_factory=list)
    now: datetime = datetime(2027, 3, 3, 9, 0, tzinfo=UTC)
    kills: int = 0
    updated: set[str] = field(default_factory=set)  # simulated guests that installed theirs

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self) -> None:
        """Start the seed's server (again: on the same directory, port and clock)."""
        with (self.dir / "server.log").open("a") as out:
            self.server = subprocess.Popen(
                [
                    *(sys.executable, "-m", "tests.agents.seed_server"),
                    *(str(self.dir), str(self.port), self.database),
                ],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while True:
            assert self.server.poll() is None, (self.dir / "server.log").read_text()
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the seed's server did not start in 120 s"
            time.sleep(0.2)
        self.world = json.loads((self.dir / "world.json").read_text())

    def kill_during_move(self, to: datetime, after: float) -> None:
        """Move the clock, and SIGKILL the server ``after`` seconds into the duties that
        move runs (the wave engine, the scheduler, the mailer); then start it again."""
        assert self.server is not None
        mover = threading.Thread(target=self._try_move, args=(to,))
        mover.start()
        time.sleep(after)
        self.server.send_signal(signal.SIGKILL)
        self.server.wait(timeout=10)
        mover.join(timeout=130)
        self.kills += 1
        self.serve()

    def _try_move(self, to: datetime) -> None:
        try:
            httpx.post(f"{self.url}/_clock", json={"to": to.isoformat()}, timeout=120)
        except httpx.TransportError:
            pass  # killed under it

    def stop(self) -> None:
        for p in [*reversed(self.procs), self.server]:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [*self.procs, self.server]:
            if p is None:
                continue
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def rows(self, sql: str, *params: object) -> list[tuple]:
        """Read the server's database (portable SQL, ``?`` placeholders)."""
        if self.database.startswith("sqlite://"):
            path = self.database.removeprefix("sqlite://")
            text = [p.isoformat(sep=" ") if isinstance(p, datetime) else p for p in params]
            with sqlite3.connect(path, timeout=30) as conn:
                return conn.execute(sql, text).fetchall()
        numbered = re.sub(r"\?", lambda _, n=iter(range(1, 99)): f"${next(n)}", sql)
        return asyncio.run(_pg_rows(self.database, numbered, params))

    def move(self, to: datetime) -> None:
        r = httpx.post(f"{self.url}/_clock", json={"to": to.isoformat()}, timeout=120)
        assert r.status_code == 200, r.text
        self.now = max(self.now, to)

    def gql(self, query: str, **variables: object) -> dict:
        r = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.world['admin']}"},
            timeout=60,
        )
        body = r.json()
        assert "errors" not in body, body
        return body["data"]

    def agent_env(self, token: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FENSTER_")}
        return {**env, "FENSTER_AGENT_TOKEN": token}

    def start(self, args: list[str], token: str, log: str) -> None:
        with (self.dir / log).open("w") as out:
            self.procs.append(
                subprocess.Popen(
                    [AGENT, "--api", f"{self.url}/graphql", *args],
                    env=self.agent_env(token),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )


async def _pg_rows(url: str, sql: str, params: tuple[object, ...]) -> list[tuple]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql, *params)]
    finally:
        await conn.close()


async def _pg_create(url: str) -> None:
    conn = await asyncpg.connect(POSTGRES)
    try:
        await conn.execute(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
    finally:
        await conn.close()


@pytest.fixture(params=BACKENDS)
def week(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Week]:
    if request.param == "sqlite":
        database = f"sqlite://{tmp_path / 'fenster.sqlite3'}"
    else:
        database = postgres_url(f"fenster_week_{uuid.uuid4().hex[:12]}")
        asyncio.run(_pg_create(database))
    w = Week(tmp_path, free_port(), database)
    try:
        w.serve()
        yield w
    finally:
        w.stop()
        if request.param != "sqlite":
            asyncio.run(drop_postgres_database(database))


def start_agents(w: Week) -> None:
    for host, token in w.world["hosts"].items():
        uri = f"test://{w.world['nodes'][host]}"
        state = str(w.dir / f"state-{host}")
        # asking the guests' hooks again every half second, not every 5: the week's windows
        # follow one another in seconds of real time
        args = ["--uri", uri, "--state-dir", state, "--hooks-poll", "0.5"]
        w.start([*args, "run", "--interval", "0.5"], token, host)
    for name in GUEST_PROCESSES:
        proc = fake_proc(w.dir / f"proc-{name}")
        # the update installs 2.6.38, which the guest runs from its next boot; test:/// boots
        # nothing, so the update itself writes what `uname -r` shows afterwards
        update = (
            f"{sys.executable} -m agents.guest.demo_update --record {w.dir / 'runs'}"
            f" && echo 2.6.38 > {proc / 'sys/kernel/osrelease'}"
        )
        command = shlex.join(["sh", "-c", update])
        state = str(w.dir / f"guest-{name}")
        args = ["--state-dir", state, "guest", "--command", command, "--interval", "0.5"]
        w.start([*args, "--proc", str(proc)], w.world["guests"][name], f"guest-{name}.log")


def fake_proc(path: Path) -> Path:
    """What the guest agent reads of its guest: kernel 2.6.32, 2 GiB of swap, the host CPU."""
    (path / "sys" / "kernel").mkdir(parents=True)
    (path / "sys" / "kernel" / "osrelease").write_text("2.6.32\n")
    (path / "meminfo").write_text("MemTotal: 2097152 kB\nSwapTotal: 2097152 kB\n")
    (path / "cpuinfo").write_text("model name\t: AMD Opteron(tm) Processor 6174\n")
    return path


def report_other_guests(w: Week, clients: dict[str, Client]) -> int:
    """The guests without an agent process answer through the API, as their agent would:
    their window's enter and leave hooks (go, up with the kernel expected), their updates."""
    done = 0
    for name, client in clients.items():
        for hook in client.guest_hooks():
            if hook.verdict == "asked":
                answer = {"window": hook.window, "phase": hook.phase.upper(), "asks": hook.asks}
                # up again after its activation: the kernel its update installed
                [(kernel,)] = w.rows("SELECT desired_kernel FROM machine WHERE name = ?", name)
                booted = kernel if hook.phase == "leave" and name in w.updated else "2.6.32"
                facts = {"kernel": booted, "swapMib": 2048}
                client.answer_guest_hook({**answer, "reply": "GO", "facts": facts})
        for work in client.guest_work():
            client.start_guest_update(work.id)
            outcome = client.report_guest_update(
                {
                    "activity": work.id,
                    "outcome": "DONE",
                    "exitCode": 0,
                    "log": "changed: sys-kernel/gentoo-sources 2.6.32 -> 2.6.38",
                    "packages": ["sys-kernel/gentoo-sources 2.6.32 -> 2.6.38"],
                    "facts": {"kernel": "2.6.32", "swapMib": 2048},
                }
            )
            assert outcome == "done", (name, outcome)
            w.updated.add(name)
            with (w.dir / "runs").open("a") as runs:
                runs.write(f"{work.id} api\n")
            done += 1
    return done


def next_event(w: Week) -> datetime | None:
    """The next moment something is due: a wave's start or the end of its soak, a window's
    start (a minute in, as an agent polling every minute would see it)."""
    pending = w.rows("SELECT starts_at FROM rollout_wave WHERE state = 'pending'")
    soaking = w.rows("SELECT starts_at, soak_minutes FROM rollout_wave WHERE state = 'running'")
    planned = w.rows("SELECT starts_at FROM maintenance_window WHERE state = 'planned'")
    times = [utc(t) for (t,) in pending]
    times += [utc(t) + timedelta(minutes=soak) for t, soak in soaking]
    times += [utc(t) + timedelta(minutes=1) for (t,) in planned]
    ahead = sorted(t for t in times if t > w.now)
    return ahead[0] if ahead and ahead[0] <= SUNDAY else None


def unsettled(w: Week) -> list[tuple]:
    """What the agents still have to do at the clock's time: windows open and not done,
    sampled guests' released updates not reported."""
    now = w.now
    windows = w.rows(
        "SELECT m.name, w.state FROM maintenance_window w JOIN machine m ON m.id = w.machine_id"
        " WHERE (w.state = 'running') OR (w.state = 'planned' AND w.starts_at <= ?"
        " AND w.ends_at > ?)",
        now,
        now,
    )
    marks = ",".join("?" * len(GUEST_PROCESSES))
    updates = w.rows(
        "SELECT m.name, a.state FROM activity a JOIN machine m ON m.id = a.machine_id"
        " JOIN rollout r ON r.id = a.rollout_id JOIN rollout_member rm"
        " ON rm.rollout_id = r.id AND rm.machine_id = m.id JOIN rollout_wave wv"
        " ON wv.id = rm.wave_id WHERE a.kind = 'system_update' AND wv.state = 'running'"
        f" AND a.state IN ('scheduled', 'running') AND m.name IN ({marks})",
        *GUEST_PROCESSES,
    )
    return windows + updates


def settle(w: Week, clients: dict[str, Client]) -> None:
    deadline = time.monotonic() + ONE_STEP
    while True:
        report_other_guests(w, clients)
        left = unsettled(w)
        if not left:
            w.move(w.now)  # the duties once more: a gate after the last report, mail
            if not unsettled(w):
                return
        for p in w.procs:
            assert p.poll() is None, f"a process ended: {p.args}"
        assert time.monotonic() < deadline, f"at {w.now}: still {left}"
        time.sleep(0.2)


def book_manual_activation(w: Week) -> None:
    """sakura-db01 is not scheduled automatically: the operator books its activation in its
    group's first regular window after its wave, as the rollout's preview said."""
    [(tz, start, minutes, weekdays, wave_start)] = w.rows(
        "SELECT g.timezone, g.window_start, g.window_minutes, g.weekdays, wv.starts_at"
        " FROM rollout_member rm JOIN rollout_wave wv ON wv.id = rm.wave_id"
        " JOIN machine m ON m.id = rm.machine_id JOIN rollout r ON r.id = rm.rollout_id"
        " JOIN resource_group g ON g.id = m.group_id"
        " WHERE m.name = 'sakura-db01' AND r.state = 'announced'"
    )
    start = start if isinstance(start, dtime) else dtime.fromisoformat(start)
    policy = Policy(tz, start, minutes, tuple(json.loads(weekdays)))
    first = next(iter(occurrences(policy, utc(wave_start), SUNDAY)))
    booked = w.gql(
        """mutation($at: DateTime!) { scheduleAt(input: {machine: "sakura-db01", startsAt: $at})
           { __typename ... on Window { startsAt } } }""",
        at=first.starts_at.isoformat(),
    )
    assert booked["scheduleAt"]["__typename"] == "Window", booked


Kill = Callable[[Week, datetime], None]  # called before each step's move


def run_week(w: Week, kill: Kill | None = None) -> None:
    """From the Wednesday to the Sunday, event by event, each step settled."""
    book_manual_activation(w)
    start_agents(w)
    clients = {
        name: Client(f"{w.url}/graphql", token, retries=2)
        for name, token in w.world["guests"].items()
        if name not in GUEST_PROCESSES
    }
    steps = 0
    try:
        while (at := next_event(w)) is not None:
            if kill is not None:
                kill(w, at)
            w.move(at)  # after a kill: the same move again, on the server started again
            settle(w, clients)
            steps += 1
            assert steps < 200, "the week did not end"
    finally:
        for client in clients.values():
            client.close()


def check_week(w: Week) -> None:
    [(state,)] = w.rows("SELECT state FROM rollout WHERE name = 'system-update-next-week'")
    assert state == "completed", w.rows("SELECT name, state FROM rollout_wave")
    vms = [name for (name,) in w.rows("SELECT name FROM machine WHERE kind = 'vm'")]

    # every machine of the rollout updated once, by its agent or through the API
    runs = Counter(line.split()[0] for line in (w.dir / "runs").read_text().splitlines())
    updates = w.rows(
        "SELECT a.id, m.name, a.state FROM activity a JOIN machine m ON m.id = a.machine_id"
        " JOIN rollout r ON r.id = a.rollout_id WHERE a.kind = 'system_update'"
        " AND r.name = 'system-update-next-week'"
    )
    assert {m for _, m, _ in updates} >= set(vms) | set(GUEST_PROCESSES)
    assert len({m for _, m, _ in updates}) == len(updates)  # one update per machine
    assert {m: s for _, m, s in updates} == {m: "done" for _, m, _ in updates}
    # each update ran once: one line per run, by activity (the agents' and the API's)
    assert set(runs.values()) == {1} and len(runs) == len(updates), runs
    by_agent = (w.dir / "runs").read_text().splitlines()
    assert sum(not line.endswith(" api") for line in by_agent) == len(GUEST_PROCESSES)

    # each VM: its activation after its wave, then two reboots in all (activation, host)
    waves = dict(
        w.rows(
            "SELECT m.name, wv.starts_at FROM rollout_member rm JOIN machine m"
            " ON m.id = rm.machine_id JOIN rollout_wave wv ON wv.id = rm.wave_id"
            " JOIN rollout r ON r.id = rm.rollout_id WHERE r.name = 'system-update-next-week'"
        )
    )
    updated = dict(
        w.rows(
            "SELECT m.name, a.finished_at FROM activity a JOIN machine m ON m.id = a.machine_id"
            " WHERE a.kind = 'system_update' AND a.state = 'done'"
        )
    )
    reboots: dict[str, list[tuple[str, str]]] = defaultdict(list)
    kinds_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for window, name, started, kind in w.rows(
        "SELECT w.id, m.name, w.started_at, a.kind FROM maintenance_window w"
        " JOIN machine m ON m.id = w.machine_id JOIN activity a ON a.window_id = w.id"
        " WHERE w.state = 'completed' AND m.kind = 'vm' ORDER BY w.starts_at, w.id"
    ):
        kinds_of[(name, utc(started).isoformat(), window)].append(kind)
    for (name, started, _), kinds in kinds_of.items():
        reboots[name].append((started, ",".join(kinds)))
    for vm in vms:
        assert len(reboots[vm]) == 2, (vm, reboots[vm])
        activation = [s for s, k in reboots[vm] if "kernel_update" in k]
        assert len(activation) == 1 and utc(activation[0]) >= utc(waves[vm]), reboots[vm]
        # started only once the guest had installed the update (see test_activation_waits)
        assert utc(updated[vm]) <= utc(activation[0]), (vm, updated[vm], activation)
    [(kernel_done,)] = w.rows(
        "SELECT count(*) FROM machine WHERE kind = 'vm' AND observed_kernel = '2.6.38'"
    )
    assert kernel_done == len(vms)
    # the guests with an agent process said so themselves, after their activation's boot
    marks = ",".join("?" * len(GUEST_PROCESSES))
    seen = w.rows(
        f"SELECT name, guest_kernel FROM machine WHERE name IN ({marks})", *GUEST_PROCESSES
    )
    assert dict(seen) == dict.fromkeys(GUEST_PROCESSES, "2.6.38")

    # the hosts reboot on Saturday; over the week each VM was started exactly twice, by the
    # host agent's own log lines (its activation, and its host's reboot)
    hosts = w.rows(
        "SELECT m.name, w.starts_at FROM maintenance_window w JOIN machine m"
        " ON m.id = w.machine_id JOIN activity a ON a.window_id = w.id"
        " WHERE a.kind = 'host_reboot' AND w.state = 'completed'"
    )
    assert sorted(h for h, _ in hosts) == sorted(w.world["hosts"])
    assert {f"{utc(starts):%a}" for _, starts in hosts} == {"Sat"}, hosts
    starts: Counter[str] = Counter()  # windows in which the host agent started each guest
    logs_of: dict[int, list[str]] = defaultdict(list)
    for window, log in w.rows("SELECT window_id, log FROM activity WHERE window_id IS NOT NULL"):
        logs_of[window].append(log or "")
    for logs in ("\n".join(each) for each in logs_of.values()):
        starts.update(
            {
                line.split()[1].removeprefix("machine=")
                for line in (logs or "").splitlines()
                if line.startswith("start: machine=") and line.endswith(" action=start")
            }
        )
    assert {vm: starts[vm] for vm in vms} == dict.fromkeys(vms, 2), starts

    # mail in order, per group: the announcement first, each window's notice before its end
    order = w.rows(
        "SELECT g.name, n.kind, n.sent_at FROM notification n JOIN resource_group g"
        " ON g.id = n.group_id WHERE n.state = 'sent' ORDER BY n.sent_at, n.id"
    )
    assert not w.rows("SELECT id FROM notification WHERE state != 'sent'")
    by_group: dict[str, list[str]] = defaultdict(list)
    for group, kind, _ in order:
        by_group[group].append(kind)
    for group, kinds in by_group.items():
        if "rollout_announced" in kinds:
            first = kinds.index("rollout_announced")
            assert "window_completed" not in kinds[:first], (group, kinds)
    # each notification delivered once, as one message; a kill between a delivery and its
    # bookkeeping may deliver one again, recognisably: the same Message-ID
    files = list((w.dir / "mail" / "new").iterdir())
    ids = Counter(
        line for f in files for line in f.read_text().splitlines() if line.startswith("Message-ID:")
    )
    assert len(ids) == len(w.rows("SELECT id FROM notification")), ids.most_common(3)
    assert len(files) - len(ids) <= w.kills, ids.most_common(3)


def test_the_seeds_week_with_agents_and_the_server_killed_twice(week: Week) -> None:
    """The whole week, with the server SIGKILLed while the wave engine starts the 20 % wave,
    and again while the host agents reboot the hosts on Saturday; started again each time,
    it ends as it should: nothing lost, nothing done twice. (One test, not two: a week costs
    a minute or more of real time.)"""
    starts = dict(week.rows("SELECT name, starts_at FROM rollout_wave"))
    targets = {utc(starts["20 % of all VMs"]): 0.2, utc(starts["VM hosts"]): 0.6}

    def kill(w: Week, at: datetime) -> None:
        if at in targets:
            w.kill_during_move(at, after=targets.pop(at))

    run_week(week, kill)
    assert week.kills == 2 and not targets
    check_week(week)
