"""Authorization matrix: six callers x every query root field and every mutation.

Each cell gets a fresh world. SQLite only: a PostgreSQL database per cell would make the
matrix slow; the same resolvers run on both backends in test_queries and test_mutations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.graphql.relay import encode_id
from api.models import Activity, AuditEvent, Machine, Notification
from api.scheduling import Policy, occurrences
from api.services import agents
from tests.graphql.world import World, build_world, gql

ROLES = ["anonymous", "customer_a", "customer_b", "agent_1", "agent_2", "guest_a", "admin"]
DENIED = "PermissionDenied"
NOT_FOUND = "NotFound"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'matrix.sqlite3'}"


@dataclass
class Op:
    field: str
    doc: str
    expect: dict[str, Any]  # role -> projection of the field's data, or DENIED / NOT_FOUND
    project: Callable[[Any], Any] = lambda d: d["__typename"]
    variables: Callable[[World], Awaitable[dict[str, Any]]] | None = None
    setup: Callable[[World], Awaitable[None]] | None = None

    @property
    def mutation(self) -> bool:
        return self.doc.lstrip().startswith("mutation")


async def _rest_and_hosts_rollout(state: str = "draft") -> None:
    from api.scheduling.waves import WaveSelector, WaveSpec
    from api.services import rollout_changes, rollouts
    from api.services.rollout_announce import announce_rollout

    start = datetime.now(UTC) + timedelta(days=20)
    waves = [
        WaveSpec("all VMs", WaveSelector.REST, start, soak_minutes=60),
        WaveSpec("hosts", WaveSelector.HOSTS, start + timedelta(days=2)),
    ]
    r = await rollouts.create_rollout("test", name="su-rest", title="S", waves=waves)
    if state in ("announced", "delayed", "running"):
        r = await announce_rollout("test", r, force=True)
    if state == "delayed":
        await rollout_changes.delay_rollout("test", r, "Storage trouble.")
    if state == "running":  # the wave engine starts its first wave
        from api.services.rollout_engine import run_rollouts
        from api.settings import get_settings

        await run_rollouts(get_settings(), now=start)


async def _failed_update(_: World) -> None:
    """A running rollout in which alpha-web's system update failed."""
    await _rest_and_hosts_rollout("running")
    await Activity.filter(kind="system_update", machine__name="alpha-web").update(
        state="failed", finished_at=datetime.now(UTC) + timedelta(days=30), log="E: broken"
    )


def cells(default: Any = DENIED, **given: Any) -> dict[str, Any]:
    return {role: given.get(role, default) for role in ROLES}


def readers(admin: Any, a: Any, b: Any) -> dict[str, Any]:
    return cells(admin=admin, customer_a=a, customer_b=b)


def alpha_change(ok: str) -> dict[str, Any]:
    """A change to group alpha's objects: B cannot even find them; agents and anonymous may not."""
    return cells(admin=ok, customer_a=ok, customer_b=NOT_FOUND)


def node_names(d: dict[str, Any]) -> list[str]:
    return sorted(n["name"] for n in d["nodes"])


def alpha_start(days: int) -> str:
    policy = Policy("Europe/Berlin", time(2, 0), 120, tuple(range(7)))
    now = datetime.now(UTC)
    occ = next(occurrences(policy, now + timedelta(days=days), now + timedelta(days=days + 2)))
    return occ.starts_at.isoformat()


def mutation(field: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {field}(input: $input) {{ __typename }} }}"


def given(value: dict[str, Any]) -> Callable[[World], Awaitable[dict[str, Any]]]:
    async def build(world: World) -> dict[str, Any]:
        return {"input": value}

    return build


async def start_alpha_window(world: World) -> None:
    await agents.start_window("test", world.ids["host1"], world.ids["window:alpha-web"])


async def finish_alpha(world: World) -> dict[str, Any]:
    running = await Activity.get(window__uid=world.ids["window:alpha-web"])
    results = [{"activity": encode_id("Activity", running.id), "outcome": "DONE", "log": "ok"}]
    return {"input": {"window": world.ids["window:alpha-web"], "results": results}}


async def alpha_node(world: World) -> dict[str, Any]:
    return {"id": encode_id("Group", world.ids["group:alpha"])}


async def queued_alpha(world: World) -> dict[str, Any]:
    return {"input": {"activity": encode_id("Activity", world.ids["queued:alpha-web"])}}


async def token_b(world: World) -> dict[str, Any]:
    return {"input": {"token": encode_id("Token", world.ids["token:customer_b"])}}


async def future_alpha(world: World) -> dict[str, Any]:
    return {"input": {"window": world.ids["future:alpha-web"]}}


async def alpha_due(world: World) -> dict[str, Any]:
    return {"input": {"window": world.ids["window:alpha-web"]}}


async def ask_alpha_hook(world: World) -> dict[str, Any]:
    return {"input": {"window": world.ids["window:alpha-web"], "phase": "ENTER"}}


async def asked_alpha_hook(world: World) -> None:
    """alpha-web's guest agent runs (it reported), and host1's agent asked for its hooks."""
    from api.models import HookPhase
    from api.services import guest_hooks, guests

    await guests.report_facts("test", world.ids["alpha-web"], guests.GuestFacts(kernel="2.6.32"))
    hook = await guest_hooks.ask(
        "test", world.ids["host1"], world.ids["window:alpha-web"], HookPhase.ENTER
    )
    assert hook is not None
    world.ids["asks"] = hook.asks


async def answer_alpha_hook(world: World) -> dict[str, Any]:
    window = world.ids["window:alpha-web"]
    return {"input": {"window": window, "phase": "ENTER", "asks": world.ids["asks"], "reply": "GO"}}


async def alpha_update() -> int:
    """A system_update of alpha-web whose time has come (its wave started)."""
    a = await Activity.create(
        machine_id=(await Machine.get(name="alpha-web")).id,
        kind="system_update",
        state="scheduled",
        not_before=datetime.now(UTC) - timedelta(minutes=1),
        requested_by="test",
    )
    return a.id


async def due_update(world: World) -> None:
    world.ids["update"] = await alpha_update()


async def update_id(world: World) -> dict[str, Any]:
    return {"input": {"activity": encode_id("Activity", world.ids["update"])}}


async def started_update(world: World) -> None:
    from api.services import guests

    await due_update(world)
    await guests.start_update("test", world.ids["alpha-web"], world.ids["update"])


async def update_report(world: World) -> dict[str, Any]:
    return {
        "input": {
            "activity": encode_id("Activity", world.ids["update"]),
            "outcome": "DONE",
            "exitCode": 0,
            "facts": {"kernel": "2.6.38", "swapMib": 1024, "cpuModel": "AMD EPYC 7302P"},
        }
    }


QUERIES = [
    Op(
        "me",
        "{ me { role } }",
        cells(
            customer_a="CUSTOMER",
            customer_b="CUSTOMER",
            agent_1="AGENT",
            agent_2="AGENT",
            guest_a="GUEST",
            admin="ADMIN",
        ),
        lambda d: d["role"],
    ),
    Op(
        "groups",
        "{ groups { nodes { name } } }",
        readers(["alpha", "beta", "ops"], ["alpha"], ["beta"]),
        node_names,
    ),
    Op(
        "group",
        '{ group(name: "alpha") { name } }',
        readers("alpha", "alpha", None),
        lambda d: d and d["name"],
    ),
    Op(
        "machines",
        "{ machines { nodes { name } } }",
        readers(["alpha-web", "beta-db", "host1", "host2"], ["alpha-web"], ["beta-db"]),
        node_names,
    ),
    Op(
        "machine",
        '{ machine(name: "alpha-web") { name } }',
        readers("alpha-web", "alpha-web", None),
        lambda d: d and d["name"],
    ),
    Op(
        "windows",
        "{ windows { nodes { machine { name } } } }",
        readers(["alpha-web", "alpha-web", "beta-db"], ["alpha-web", "alpha-web"], ["beta-db"]),
        lambda d: sorted(n["machine"]["name"] for n in d["nodes"]),
    ),
    Op("activities", "{ activities { totalCount } }", readers(4, 3, 1), lambda d: d["totalCount"]),
    Op(
        "rollouts",
        "{ rollouts { nodes { name } } }",
        # customers see the rollouts touching their machines (r2011 has no members)
        readers(["r2011"], [], []),
        node_names,
    ),
    Op(
        "announcements",
        "{ announcements { totalCount } }",
        readers(2, 1, 1),  # operators see the draft too
        lambda d: d["totalCount"],
    ),
    Op(
        "packages",
        "{ packages { nodes { name } } }",
        readers(["linux"], ["linux"], ["linux"]),
        node_names,
    ),
    Op("siteStatus", "{ siteStatus { ok } }", cells(admin=None), lambda d: d),
    Op(
        "timezones",
        "{ timezones }",
        readers(True, True, True),
        lambda d: "Europe/Berlin" in d,
    ),
    Op(
        "auditEvents",
        '{ auditEvents(subject: {type: "machine", name: "host1"}) { totalCount } }',
        cells(admin=1),
        lambda d: d["totalCount"],
    ),
    Op(
        "rolloutEvents",
        '{ rolloutEvents(name: "su-rest") { kind actor } }',
        cells(admin=[{"kind": "CREATED", "actor": "test"}]),
        lambda d: d,
        setup=lambda w: _rest_and_hosts_rollout(),
    ),
    Op(
        "node",
        "query($id: ID!) { node(id: $id) { ... on Group { name } } }",
        readers("alpha", "alpha", None),
        lambda d: d and d["name"],
        alpha_node,
    ),
    Op(
        "guestWork",
        "{ guestWork { kind machine { name host { name } } } }",
        cells(guest_a=[{"kind": "SYSTEM_UPDATE", "machine": {"name": "alpha-web", "host": None}}]),
        lambda d: d,
        setup=due_update,
    ),
    Op(
        "guestHooks",
        "{ guestHooks { __typename } }",
        cells(guest_a=["GuestHook"]),  # its own machine's hooks only
        lambda d: [h["__typename"] for h in d],
        setup=asked_alpha_hook,
    ),
    Op(
        "dueWork",
        "{ dueWork { machine { name } } }",
        cells(agent_1=["alpha-web"], agent_2=["beta-db"]),
        lambda d: [w["machine"]["name"] for w in d],
    ),
]

MUTATIONS = [
    Op(
        "createGroup",
        mutation("createGroup", "CreateGroupInput"),
        cells(admin="Group"),
        variables=given({"name": "gamma", "contacts": ["a@gamma.example"], "timezone": "UTC"}),
    ),
    Op(
        "updateGroupPolicy",
        mutation("updateGroupPolicy", "UpdatePolicyInput"),
        alpha_change("Group"),
        variables=given({"group": "alpha", "windowMinutes": 90}),
    ),
    Op(
        "rotateFeedToken",
        mutation("rotateFeedToken", "RotateFeedTokenInput"),
        alpha_change("FeedUrl"),
        variables=given({"group": "alpha"}),
    ),
    Op(
        "registerMachine",
        mutation("registerMachine", "RegisterMachineInput"),
        cells(admin="Machine"),
        variables=given({"name": "alpha-new", "group": "alpha", "host": "host1"}),
    ),
    Op(
        "changeDesired",
        mutation("changeDesired", "ChangeDesiredInput"),
        alpha_change("ChangeDesiredResult"),
        variables=given({"machine": "alpha-web", "cores": 3}),
    ),
    Op(
        "setAutoSchedule",
        mutation("setAutoSchedule", "SetAutoScheduleInput"),
        alpha_change("Machine"),
        variables=given({"machine": "alpha-web", "autoSchedule": False}),
    ),
    Op(
        "setRepresentative",
        mutation("setRepresentative", "SetRepresentativeInput"),
        cells(admin="Machine"),
        variables=given({"machine": "alpha-web", "representative": True}),
    ),
    Op(
        "setRedundancy",
        mutation("setRedundancy", "SetRedundancyInput"),
        alpha_change("Machine"),
        variables=given({"machine": "alpha-web", "redundancy": "web"}),
    ),
    Op(
        "queueActivity",
        mutation("queueActivity", "QueueActivityInput"),
        alpha_change("Activity"),
        variables=given({"machine": "alpha-web", "kind": "REBOOT"}),
    ),
    Op(
        "cancelActivity",
        mutation("cancelActivity", "CancelActivityInput"),
        alpha_change("Activity"),
        variables=queued_alpha,
    ),
    Op(
        "scheduleAt",
        mutation("scheduleAt", "ScheduleAtInput"),
        alpha_change("Window"),
        variables=lambda w: given({"machine": "alpha-web", "startsAt": alpha_start(4)})(w),
    ),
    Op(
        "postponeWindow",
        mutation("postponeWindow", "PostponeWindowInput"),
        alpha_change("Window"),
        variables=future_alpha,
    ),
    Op(
        "cancelWindow",
        mutation("cancelWindow", "CancelWindowInput"),
        cells(admin="Window"),
        variables=future_alpha,
    ),
    Op(
        "forceHostReboot",
        mutation("forceHostReboot", "ForceHostRebootInput"),
        cells(admin="HostRebootResult"),
        variables=lambda w: given({"host": "host1", "startsAt": alpha_start(3)})(w),
    ),
    Op(
        "createToken",
        mutation("createToken", "CreateTokenInput"),
        cells(admin="CreatedToken"),
        variables=given({"name": "x", "role": "CUSTOMER", "groups": ["alpha"]}),
    ),
    Op(
        "revokeToken",
        mutation("revokeToken", "RevokeTokenInput"),
        cells(admin="Token"),
        variables=token_b,
    ),
    Op(
        "createAnnouncement",
        mutation("createAnnouncement", "CreateAnnouncementInput"),
        cells(admin="Announcement"),
        variables=given({"slug": "new-one", "title": "New", "body": "Text."}),
    ),
    Op(
        "updateAnnouncement",
        mutation("updateAnnouncement", "UpdateAnnouncementInput"),
        cells(admin="Announcement"),
        variables=given({"slug": "draft", "body": "Changed."}),
    ),
    Op(
        "publishAnnouncement",
        mutation("publishAnnouncement", "PublishAnnouncementInput"),
        cells(admin="Announcement"),
        variables=given({"slug": "draft", "groups": ["alpha"]}),
    ),
    Op(
        "createRollout",
        mutation("createRollout", "CreateRolloutInput"),
        cells(admin="Rollout"),
        variables=given({"name": "su-next", "title": "System update"}),
    ),
    Op(
        "previewRollout",
        mutation("previewRollout", "PreviewRolloutInput"),
        cells(admin="RolloutPreview"),
        variables=given({"name": "su-rest"}),
        setup=lambda w: _rest_and_hosts_rollout(),
    ),
    Op(
        "announceRollout",
        mutation("announceRollout", "AnnounceRolloutInput"),
        cells(admin="Rollout"),
        variables=given({"name": "su-rest", "force": True}),
        setup=lambda w: _rest_and_hosts_rollout(),
    ),
    Op(
        "updateRollout",
        mutation("updateRollout", "UpdateRolloutInput"),
        cells(admin="Rollout"),
        variables=given({"name": "su-rest", "title": "New title"}),
        setup=lambda w: _rest_and_hosts_rollout(),
    ),
    Op(
        "delayRollout",
        mutation("delayRollout", "DelayRolloutInput"),
        cells(admin="Rollout"),
        variables=given({"name": "su-rest", "reason": "Storage trouble."}),
        setup=lambda w: _rest_and_hosts_rollout("announced"),
    ),
    Op(
        "resumeRollout",
        mutation("resumeRollout", "ResumeRolloutInput"),
        cells(admin="Rollout"),
        variables=lambda w: given(
            {
                "name": "su-rest",
                "force": True,
                "startsAt": [(datetime.now(UTC) + timedelta(days=d)).isoformat() for d in (30, 32)],
            }
        )(w),
        setup=lambda w: _rest_and_hosts_rollout("delayed"),
    ),
    Op(
        "haltRollout",
        mutation("haltRollout", "HaltRolloutInput"),
        cells(admin="Rollout"),
        variables=given({"name": "su-rest", "reason": "Storage trouble."}),
        setup=lambda w: _rest_and_hosts_rollout("running"),
    ),
    Op(
        "retryRolloutMachine",
        mutation("retryRolloutMachine", "RolloutMachineInput"),
        cells(admin="Rollout"),
        variables=given({"name": "su-rest", "machine": "alpha-web"}),
        setup=_failed_update,
    ),
    Op(
        "skipRolloutMachine",
        mutation("skipRolloutMachine", "RolloutMachineInput"),
        cells(admin="Rollout"),
        variables=given({"name": "su-rest", "machine": "alpha-web"}),
        setup=_failed_update,
    ),
    Op(
        "cancelRollout",
        mutation("cancelRollout", "CancelRolloutInput"),
        cells(admin="Rollout"),
        variables=given({"name": "su-rest"}),
        setup=lambda w: _rest_and_hosts_rollout(),
    ),
    Op(
        "postRolloutUpdate",
        mutation("postRolloutUpdate", "PostRolloutUpdateInput"),
        cells(admin="Announcement"),
        variables=given({"name": "su-rest", "body": "All fine.", "mail": True}),
        setup=lambda w: _rest_and_hosts_rollout("announced"),
    ),
    Op(
        "importPackages",
        mutation("importPackages", "ImportPackagesInput"),
        cells(admin="ImportResult"),
        variables=given({"packages": [{"name": "zlib", "version": "1.2.5", "sha256": "a" * 64}]}),
    ),
    Op(
        "reportInventory",
        mutation("reportInventory", "ReportInventoryInput"),
        cells(agent_1="InventoryResult", agent_2="InventoryResult"),
        variables=given({"kernel": "2.6.38"}),
    ),
    Op(
        "startGuestUpdate",
        mutation("startGuestUpdate", "StartGuestUpdateInput"),
        cells(guest_a="Activity"),
        variables=update_id,
        setup=due_update,
    ),
    Op(
        "reportGuestUpdate",
        mutation("reportGuestUpdate", "ReportGuestUpdateInput"),
        cells(guest_a="Activity"),
        variables=update_report,
        setup=started_update,
    ),
    Op(
        "reportGuestFacts",
        mutation("reportGuestFacts", "GuestFactsInput"),
        cells(guest_a="Machine"),
        variables=given({"kernel": "2.6.38"}),
    ),
    Op(
        "askGuestHook",
        mutation("askGuestHook", "AskGuestHookInput"),
        cells(agent_1="NoGuestAgent", agent_2=NOT_FOUND),  # no guest agent has reported
        variables=ask_alpha_hook,
    ),
    Op(
        "answerGuestHook",
        mutation("answerGuestHook", "AnswerGuestHookInput"),
        cells(guest_a="GuestHook"),
        variables=answer_alpha_hook,
        setup=asked_alpha_hook,
    ),
    Op(
        "startWindow",
        mutation("startWindow", "StartWindowInput"),
        cells(agent_1="Window", agent_2=NOT_FOUND),
        variables=alpha_due,
    ),
    Op(
        "finishWindow",
        mutation("finishWindow", "FinishWindowInput"),
        cells(agent_1="Window", agent_2=NOT_FOUND),
        variables=finish_alpha,
        setup=start_alpha_window,
    ),
]

CASES = [
    pytest.param(op, role, id=f"{op.field}-{role}") for op in QUERIES + MUTATIONS for role in ROLES
]


def test_matrix_covers_every_root_field() -> None:
    from api.graphql.schema import schema

    gql_schema = schema._schema
    assert {op.field for op in QUERIES} == set(gql_schema.query_type.fields)
    assert {op.field for op in MUTATIONS} == set(gql_schema.mutation_type.fields)


@pytest.mark.parametrize(("op", "role"), CASES)
async def test_cell(client: httpx.AsyncClient, db: object, op: Op, role: str) -> None:
    world = await build_world()
    if op.setup is not None:
        await op.setup(world)
    variables = await op.variables(world) if op.variables is not None else {}
    before = (await AuditEvent.all().count(), await Notification.all().count())
    out = await gql(client, op.doc, variables, world.tokens[role])
    expected = op.expect[role]
    if op.mutation:
        assert "errors" not in out, out
        got = out["data"][op.field]["__typename"]
        assert got == expected, out
        if expected in (DENIED, NOT_FOUND):  # refused: nothing written
            assert (await AuditEvent.all().count(), await Notification.all().count()) == before
    elif expected == DENIED:
        assert out["data"] is None or out["data"][op.field] is None, out
        assert [e["extensions"]["code"] for e in out["errors"]] == [DENIED]
    else:
        assert "errors" not in out, out
        assert op.project(out["data"][op.field]) == expected
