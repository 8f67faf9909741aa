"""The load of issue 14, for `make loadtest` (tests/load/run.py starts it; not collected).

- host agents poll ``dueWork`` every 60 s (jittered, as the real agent does); those whose host
  has a due window start it and finish it once;
- calendar clients fetch their group's feed every 60 s, with If-None-Match after the first;
- with LOAD_TARGET=floor the agents post the same poll to the plain Starlette floor instead
  (tests/load/floor.py), and there are no calendar clients.
"""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import gevent
from locust import FastHttpUser, between, task

from agents.client import DUE, FINISH, START
from tests.load.world import Clients

CLIENTS = Clients.load(Path(os.environ["LOAD_CLIENTS"]))
FLOOR = os.environ.get("LOAD_TARGET") == "floor"
POLL = float(os.environ.get("LOAD_POLL_SECONDS", "60"))
_agents = itertools.count()
_feeds = itertools.count()
_due = set(CLIENTS.due)


class Agent(FastHttpUser):
    fixed_count = len(CLIENTS.agents)
    wait_time = between(POLL * 0.9, POLL * 1.1)

    def on_start(self) -> None:
        self.index = next(_agents) % len(CLIENTS.agents)
        self.headers = {"Authorization": f"Bearer {CLIENTS.agents[self.index]}"}
        self.name = f"kvm{self.index:05d}"
        self.done = self.index not in _due
        gevent.sleep(random.uniform(0, POLL))  # agents did not all start at once

    @task
    def poll(self) -> None:
        if FLOOR:
            self.client.post("/due", json={}, headers=self.headers, name="dueWork (floor)")
            return
        body = {"query": DUE, "variables": {"agent": self.name}}
        data = None
        for _attempt in range(2):  # as the real agent: once more after Retry-After
            with self.client.post(
                "/graphql", json=body, headers=self.headers, name="dueWork", catch_response=True
            ) as r:
                data = r.json() if r.status_code == 200 else None
                if data is None or "errors" in data:
                    r.failure(f"HTTP {r.status_code}: {(r.text or '')[:200]}")
                    wait = r.headers.get("retry-after", "")
                    if r.status_code not in (429, 503) or not wait.isdigit():
                        return
                    data = None
                    gevent.sleep(float(wait) * random.uniform(0.9, 1.1))
                    continue
            break
        if data is None:
            return
        if self.done:
            return
        for window in data["data"]["dueWork"]:
            self._carry_out(window)
        self.done = True

    def _carry_out(self, window: dict) -> None:  # type: ignore[type-arg]
        start = {"input": {"window": window["uid"], "agent": self.name}}
        self._mutation(START, start, "startWindow")
        results = [
            {"activity": a["id"], "outcome": "DONE", "log": "load test"}
            for a in window["activities"]
        ]
        finish = {"input": {"window": window["uid"], "agent": self.name, "results": results}}
        self._mutation(FINISH, finish, "finishWindow")

    def _mutation(self, query: str, variables: dict, name: str) -> None:  # type: ignore[type-arg]
        body = {"query": query, "variables": variables}
        with self.client.post(
            "/graphql", json=body, headers=self.headers, name=name, catch_response=True
        ) as r:
            payload = (r.json().get("data") or {}).get(name) if r.status_code == 200 else None
            if not payload or payload.get("__typename") != "Window":
                r.failure(f"HTTP {r.status_code}: {(r.text or '')[:200]}")


class Calendar(FastHttpUser):
    fixed_count = 0 if FLOOR else len(CLIENTS.feeds)
    wait_time = between(POLL * 0.9, POLL * 1.1)

    def on_start(self) -> None:
        self.path = CLIENTS.feeds[next(_feeds) % len(CLIENTS.feeds)]
        self.etag: str | None = None
        gevent.sleep(random.uniform(0, POLL))

    @task
    def fetch(self) -> None:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        name = "feed (If-None-Match)" if self.etag else "feed"
        with self.client.get(self.path, headers=headers, name=name, catch_response=True) as r:
            if r.status_code == 200:
                self.etag = r.headers.get("etag")
            elif r.status_code != 304:
                r.failure(f"HTTP {r.status_code}")
