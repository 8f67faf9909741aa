"""The agent's side of the GraphQL API, over HTTP with httpx.

Connection errors and 5xx answers are retried with exponential backoff; error payloads
(ValidationError, NotFound, PermissionDenied) and GraphQL errors become ``ApiError``. The
bearer token goes into the Authorization header and nowhere else (never into logs).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from agents.errors import ApiError, FieldProblem, TransportError

__all__ = ["Client", "DomainReport", "DueActivity", "DueWindow", "Hook", "Result"]

log = logging.getLogger("fenster.agent.client")

ERRORS = """
  ... on ValidationError { message fields { field message } }
  ... on NotFound { message }
  ... on PermissionDenied { message }
"""
REPORT = (
    "mutation($input: ReportInventoryInput!) { reportInventory(input: $input) { __typename"
    " ... on InventoryResult { updated unchanged unknown missing rejected { name reason } }"
    + ERRORS
    + "} }"
)
DUE = (
    "query($agent: String) { dueWork(agent: $agent) { uid state startsAt endsAt machine { name }"
    " activities { id kind params state } } }"
)
START = (
    "mutation($input: StartWindowInput!) { startWindow(input: $input) { __typename"
    " ... on Window { uid state }" + ERRORS + "} }"
)
FINISH = (
    "mutation($input: FinishWindowInput!) { finishWindow(input: $input) { __typename"
    " ... on Window { uid state }" + ERRORS + "} }"
)

GUEST_WORK = "{ guestWork { id kind state params } }"
START_UPDATE = (
    "mutation($input: StartGuestUpdateInput!) { startGuestUpdate(input: $input) { __typename"
    " ... on Activity { id state }" + ERRORS + "} }"
)
REPORT_UPDATE = (
    "mutation($input: ReportGuestUpdateInput!) { reportGuestUpdate(input: $input) { __typename"
    " ... on Activity { id state }" + ERRORS + "} }"
)
HOOK = "window phase asks verdict reason kernel"
ASK_HOOK = (
    "mutation($input: AskGuestHookInput!) { askGuestHook(input: $input) { __typename"
    " ... on GuestHook { " + HOOK + " } ... on NoGuestAgent { message }" + ERRORS + "} }"
)
GUEST_HOOKS = "{ guestHooks { " + HOOK + " } }"
ANSWER_HOOK = (
    "mutation($input: AnswerGuestHookInput!) { answerGuestHook(input: $input) { __typename"
    " ... on GuestHook { " + HOOK + " }" + ERRORS + "} }"
)
REPORT_FACTS = (
    "mutation($input: GuestFactsInput!) { reportGuestFacts(input: $input) { __typename"
    " ... on Machine { name }" + ERRORS + "} }"
)


@dataclass(frozen=True)
class Hook:
    """A hook request to a guest agent (api.models.GuestHook), values in lower case."""

    window: str
    phase: str  # enter | leave
    asks: int
    verdict: str  # asked | go | not_yet | postponed
    reason: str = ""
    kernel: str | None = None

    @classmethod
    def parse(cls, h: dict[str, Any]) -> Hook:
        return cls(
            h["window"],
            h["phase"].lower(),
            int(h["asks"]),
            h["verdict"].lower(),
            h.get("reason") or "",
            h.get("kernel"),
        )


@dataclass(frozen=True)
class DomainReport:
    name: str
    state: str
    memory_mib: int
    vcpus: int
    kernel: str | None = None
    cpu_mode: str | None = None


@dataclass(frozen=True)
class DueActivity:
    id: str
    kind: str  # lower case: memory_resize, cpu_change, ...
    params: dict[str, Any]
    state: str  # lower case: scheduled, running, ...


@dataclass(frozen=True)
class DueWindow:
    uid: str
    state: str
    starts_at: str
    ends_at: str
    machine: str
    activities: list[DueActivity] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    activity: str
    outcome: str  # "done" | "failed"
    log: str


# A server that sheds load says when to come back; an agent never waits longer than this.
MAX_RETRY_AFTER = 300.0


def jitter(seconds: float, spread: float = 0.1) -> float:
    """``seconds`` give or take ``spread`` (10 %), so that agents started together drift
    apart instead of polling in step."""
    return seconds * random.uniform(1 - spread, 1 + spread)


def retry_delay(backoff: float, answer: httpx.Response | None) -> float:
    """How long to wait before the next attempt: a 429/503's ``Retry-After`` in seconds
    (bounded), else the backoff; both jittered."""
    if answer is not None and answer.status_code in (429, 503):
        raw = answer.headers.get("retry-after", "")
        if raw.strip().isdigit():
            return jitter(min(float(raw), MAX_RETRY_AFTER))
    return jitter(backoff)


def _plain_http(url: str) -> bool:
    return url.lower().startswith("http://")


class Client:
    """A GraphQL client for one agent token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        agent: str | None = None,
    ) -> None:
        self.url = url
        self.agent = agent  # this agent's identity: its claim on the windows it starts
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "fenster-agent"},
            transport=transport,
            # a plain-http API (loopback, a private network) needs no TLS context, and
            # building one loads the CA bundle: about 50 ms of CPU per `fenster-agent once`.
            # Redirects are not followed, so no https request goes through this client.
            verify=not _plain_http(url),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST one operation; returns ``data``. Retries transport failures, 5xx and 429,
        waiting as long as a 429/503 answer's ``Retry-After`` asks (at most MAX_RETRY_AFTER),
        else with jittered exponential backoff."""
        body = {"query": query, "variables": variables or {}}
        for attempt in range(self.retries + 1):
            answer: httpx.Response | None = None
            try:
                answer = self._http.post(self.url, json=body)
            except httpx.TransportError as e:
                problem = f"{type(e).__name__}: {e}"
            else:
                if answer.status_code < 500 and answer.status_code != 429:
                    return _data(answer)
                problem = f"HTTP {answer.status_code}"
            if attempt == self.retries:
                raise TransportError(f"{self.url}: {problem} (after {attempt + 1} attempts)")
            delay = retry_delay(self.backoff * 2**attempt, answer)
            log.warning("%s: %s; retrying in %.1f s", self.url, problem, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def report_inventory(
        self,
        *,
        cpu_model: str | None,
        kernel: str | None,
        state: str | None,
        domains: Sequence[DomainReport],
        memory_mib: int | None = None,
    ) -> dict[str, list[str]]:
        value = {
            "cpuModel": cpu_model,
            "kernel": kernel,
            "state": state,
            "memoryMib": memory_mib,
            "domains": [
                {
                    "name": d.name,
                    "state": d.state,
                    "memoryMib": _int32(d.memory_mib),  # the API rejects it, alone
                    "vcpus": _int32(d.vcpus),
                    "kernel": d.kernel,
                    **({"cpuMode": d.cpu_mode} if d.cpu_mode else {}),
                }
                for d in domains
            ],
        }
        out = _payload(self.execute(REPORT, {"input": value}), "reportInventory")
        seen = {k: list(out[k]) for k in ("updated", "unchanged", "unknown", "missing")}
        seen["rejected"] = [f"{r['name']}: {r['reason']}" for r in out["rejected"]]
        for line in seen["rejected"]:
            log.error("the API rejected the report of domain %s", line)
        return seen

    def due_work(self) -> list[DueWindow]:
        rows = self.execute(DUE, {"agent": self.agent})["dueWork"]
        return [
            DueWindow(
                uid=w["uid"],
                state=w["state"].lower(),
                starts_at=w["startsAt"],
                ends_at=w["endsAt"],
                machine=(w.get("machine") or {}).get("name", ""),
                activities=[
                    DueActivity(
                        a["id"], a["kind"].lower(), dict(a["params"] or {}), a["state"].lower()
                    )
                    for a in w["activities"]
                ],
            )
            for w in rows
        ]

    def start_window(self, uid: str) -> str:
        """Returns the window's state (RUNNING)."""
        value = {"window": uid, "agent": self.agent}
        out = _payload(self.execute(START, {"input": value}), "startWindow")
        return str(out["state"]).lower()

    def finish_window(
        self, uid: str, results: Sequence[Result], down: Mapping[str, str] | None = None
    ) -> str:
        """Returns the window's state (completed or failed). ``down``: the guests that ran
        before the window and could not be started again (name -> libvirt's error); the
        directory flags the window and alerts the operators at once."""
        value: dict[str, Any] = {
            "window": uid,
            "agent": self.agent,
            "results": [
                {"activity": r.activity, "outcome": r.outcome.upper(), "log": r.log}
                for r in results
            ],
        }
        if down:  # only then: an agent newer than its directory still finishes windows
            value["guestsDown"] = [{"machine": m, "reason": r} for m, r in sorted(down.items())]
        out = _payload(self.execute(FINISH, {"input": value}), "finishWindow")
        return str(out["state"]).lower()

    def ask_guest_hook(self, uid: str, phase: str) -> Hook | None:
        """Ask (again) for the window's enter or leave hooks; None: no guest agent runs."""
        value = {"window": uid, "phase": phase.upper()}
        out = _payload(self.execute(ASK_HOOK, {"input": value}), "askGuestHook")
        return None if out["__typename"] == "NoGuestAgent" else Hook.parse(out)

    # --- the guest agent's calls (a guest token) --------------------------------------------

    def guest_hooks(self) -> list[Hook]:
        return [Hook.parse(h) for h in self.execute(GUEST_HOOKS)["guestHooks"]]

    def answer_guest_hook(self, answer: dict[str, Any]) -> str:
        """``answer`` as AnswerGuestHookInput; returns the verdict recorded."""
        out = _payload(self.execute(ANSWER_HOOK, {"input": answer}), "answerGuestHook")
        return str(out["verdict"]).lower()

    def report_guest_facts(self, facts: dict[str, Any]) -> None:
        _payload(self.execute(REPORT_FACTS, {"input": facts}), "reportGuestFacts")

    def guest_work(self) -> list[DueActivity]:
        rows = self.execute(GUEST_WORK)["guestWork"]
        return [
            DueActivity(a["id"], a["kind"].lower(), dict(a["params"] or {}), a["state"].lower())
            for a in rows
        ]

    def start_guest_update(self, activity: str) -> str:
        """Returns the activity's state (running)."""
        out = _payload(
            self.execute(START_UPDATE, {"input": {"activity": activity}}), "startGuestUpdate"
        )
        return str(out["state"]).lower()

    def report_guest_update(self, report: dict[str, Any]) -> str:
        """``report`` as ReportGuestUpdateInput; returns the activity's state (done/failed)."""
        out = _payload(self.execute(REPORT_UPDATE, {"input": report}), "reportGuestUpdate")
        return str(out["state"]).lower()


def _int32(value: int) -> int:
    """GraphQL's Int is 32-bit: a value beyond it would void the whole report."""
    return max(-(2**31), min(value, 2**31 - 1))


def _data(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise TransportError(f"HTTP {response.status_code}: not a JSON answer") from None
    if not isinstance(body, dict):
        raise TransportError(f"HTTP {response.status_code}: unexpected answer")
    errors = body.get("errors") or []
    if errors:
        first = errors[0]
        code = (first.get("extensions") or {}).get("code") or "GraphQLError"
        raise ApiError(str(code), str(first.get("message", "")))
    if response.status_code >= 400 or not isinstance(body.get("data"), dict):
        raise ApiError(f"HTTP {response.status_code}", "the API refused the request")
    return body["data"]


def _payload(data: dict[str, Any], name: str) -> dict[str, Any]:
    out = data[name]
    kind = out.get("__typename", "")
    if kind in ("ValidationError", "NotFound", "PermissionDenied"):
        fields = [FieldProblem(f["field"], f["message"]) for f in out.get("fields") or []]
        raise ApiError(kind, str(out.get("message", "")), fields)
    return out
