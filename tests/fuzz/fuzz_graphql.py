"""Fuzz the GraphQL API with schemathesis, as an operator and as a customer (run on demand with
``make fuzz``; not collected by pytest).

    .venv/bin/python tests/fuzz/fuzz_graphql.py [--examples 60] [--seed 0] [--keep DIR]

A fresh demo world (``fenster demo --no-serve`` in a temporary folder, SQLite), served by
``fenster serve`` on a loopback port in a subprocess, as in production. schemathesis loads the
schema by introspection and generates, for every query and mutation field, ``--examples``
operations (``FENSTER_FUZZ_EXAMPLES``; positive and negative: arguments of the wrong type or
shape, out of range, missing), each sent once with the demo admin token and once with the demo
customer token (group acme).

Printed for each token: cases run, HTTP 5xx answers, and answers carrying an error with code
``INTERNAL`` (an exception the server did not expect). The run fails (exit 1) if either count is
not zero for any token; the first offending requests are printed, all of them are written to
``fuzz-failures.json`` in the work folder (kept with ``--keep``), and so is the server's log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import schemathesis
from graphql import NameNode, ObjectFieldNode
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.graphql import nodes

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXAMPLES = 60  # per field and token: 3-6 minutes in all on 2 shared cores
SHOWN = 5


def _json_values() -> st.SearchStrategy[Any]:
    """GraphQL value nodes of JSON values (the ``JSON`` scalar: activity params)."""
    leaves = st.one_of(
        st.text(max_size=20).map(nodes.String),
        st.integers(-(2**40), 2**40).map(nodes.Int),
        st.booleans().map(nodes.Boolean),
        st.just(nodes.Null),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(nodes.List),
            st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), inner, max_size=4).map(
                lambda d: nodes.Object(
                    [ObjectFieldNode(name=NameNode(value=k), value=v) for k, v in d.items()]
                )
            ),
        ),
        max_leaves=8,
    )


@dataclass
class Tally:
    role: str
    cases: int = 0
    server_errors: int = 0
    internal: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)  # answers by error code ("ok": none)

    def record(self, body: Any, response: requests.Response) -> None:
        self.cases += 1
        status = response.status_code
        codes: list[str] = []
        with contextlib.suppress(ValueError):
            answer = response.json()
            if isinstance(answer, dict):
                for error in answer.get("errors") or []:
                    codes.append(str((error.get("extensions") or {}).get("code")))
        self.codes.update(codes or ["ok" if status == 200 else f"HTTP {status}"])
        bad_status = status >= 500
        internal = "INTERNAL" in codes
        self.server_errors += bad_status
        self.internal += internal
        if bad_status or internal:
            self.failures.append(
                {"status": status, "request": body, "response": response.text[:2000]}
            )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(workdir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENSTER_")}
    env.update(
        PYTHONPATH=str(ROOT),
        FENSTER_DATABASE_URL=f"sqlite://{workdir / 'var' / 'fenster.sqlite3'}",
        FENSTER_PORT=str(port),
        FENSTER_SITE_INTERVAL="0",  # no site rebuilds (MkDocs) while fuzzing
    )
    return env


@contextlib.contextmanager
def serving(workdir: Path) -> Iterator[tuple[str, str, str]]:
    """The demo world served on a loopback port: (base URL, admin token, customer token)."""
    port = free_port()
    env = environment(workdir, port)
    cli = [sys.executable, "-m", "api.cli"]
    subprocess.run(
        [*cli, "demo", "--no-serve"],
        cwd=workdir,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    var = workdir / "var"
    admin = (var / "demo-admin-token").read_text().strip()
    customer = (var / "demo-customer-token-acme").read_text().strip()
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen(
        [*cli, "serve"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{base}/healthz", timeout=2).ok:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"fuzz: the server did not start; see {workdir / 'serve.log'}")
            time.sleep(0.2)
        yield base, admin, customer
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def run_cases(
    operation: Any,
    examples: int,
    seed_value: int,
    base: str,
    session: requests.Session,
    headers: dict[str, str],
    tally: Tally,
) -> None:
    """``examples`` generated operations on one field, positive and negative, each sent once."""
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @seed(seed_value)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call(base_url=base, session=session, headers=headers, timeout=60)
        tally.record(case.body, response)

    run()


def fuzz(base: str, tokens: dict[str, str], examples: int, seed_value: int) -> list[Tally]:
    schemathesis.graphql.scalar("JSON", _json_values())
    schema = schemathesis.graphql.from_url(
        f"{base}/graphql", headers={"Authorization": f"Bearer {tokens['admin']}"}
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    tallies = []
    session = requests.Session()
    for role, token in tokens.items():
        tally = Tally(role)
        headers = {"Authorization": f"Bearer {token}"}
        started = time.monotonic()
        for operation in operations:
            run_cases(operation, examples, seed_value, base, session, headers, tally)
        print(
            f"fuzz: {role}: {len(operations)} fields, {time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
        tallies.append(tally)
    return tallies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--examples",
        type=int,
        default=int(os.environ.get("FENSTER_FUZZ_EXAMPLES", DEFAULT_EXAMPLES)),
        help="operations per field and token (default FENSTER_FUZZ_EXAMPLES or %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = args.keep.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fenster-fuzz")))
        started = time.monotonic()
        with serving(workdir) as (base, admin, customer):
            tallies = fuzz(base, {"admin": admin, "customer": customer}, args.examples, args.seed)
        log = (workdir / "serve.log").read_text(errors="replace")
        tracebacks = log.count("Traceback (most recent call last)")
        failures = [dict(f, role=t.role) for t in tallies for f in t.failures]
        (workdir / "fuzz-failures.json").write_text(json.dumps(failures, indent=1))

        print(f"fuzz: {time.monotonic() - started:.0f} s, {args.examples} examples per field")
        for t in tallies:
            print(
                f"fuzz: {t.role:8} cases {t.cases:6}  HTTP 5xx {t.server_errors:4}  "
                f"INTERNAL {t.internal:4}"
            )
            print(f"fuzz: {t.role:8} answers: {dict(t.codes.most_common())}")
        print(f"fuzz: tracebacks in the server log: {tracebacks}")
        for failure in failures[:SHOWN]:
            print(json.dumps(failure, indent=1)[:3000])
        bad = any(t.server_errors or t.internal for t in tallies)
        if bad:
            where = workdir if args.keep else "(rerun with --keep DIR to keep it)"
            print(f"fuzz: FAILED; all {len(failures)} in fuzz-failures.json and serve.log {where}")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
