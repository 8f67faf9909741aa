"""Authorization matrix, nested paths: no role sees a row it may not see, at any depth.

The paths are generated from the schema: from every object of every Node type a caller can
reach (``node(id)`` for operators and customers, ``dueWork`` for host agents, ``guestWork`` for
guest agents), every field that returns Nodes (one, a list or a connection), and from each of
those every such field again (depth 2: ``group.machines.auditTrail``, ``window.activities.
machine``, ``rollout.windows.machine.host``, ...). A new nested field is covered without a
change here. Every Node in an answer must be among the rows the role sees, which this test
states on its own (``Oracle``), not through ``api.scoping``; every connection's totalCount
must count only those.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
)

from api.graphql.relay import decode_id, encode_id
from api.models import (
    Activity,
    Announcement,
    ApiToken,
    AuditEvent,
    Machine,
    PackageRelease,
    ResourceGroup,
    Rollout,
    RolloutMember,
    Window,
)
from tests.graphql.test_access_matrix import ROLES, _rest_and_hosts_rollout
from tests.graphql.world import World, build_world, gql

# Node types node(id) does not return (null for everyone, operators too): a token is read
# nowhere (createToken and revokeToken answer with one; api/graphql/node.py says why).
NOT_BY_ID = {"Token"}
MODELS: dict[str, Any] = {
    "Group": ResourceGroup,
    "Machine": Machine,
    "Window": Window,
    "Activity": Activity,
    "Rollout": Rollout,
    "Announcement": Announcement,
    "PackageRelease": PackageRelease,
    "AuditEvent": AuditEvent,
    "Token": ApiToken,
}
DEPTH = 2


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'nested.sqlite3'}"


def _schema() -> Any:
    from api.graphql.schema import schema

    return schema._schema


def _unwrap(t: GraphQLOutputType) -> Any:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t


def _is_node(t: Any) -> bool:
    return isinstance(t, GraphQLObjectType) and any(i.name == "Node" for i in t.interfaces)


@dataclass(frozen=True)
class NodeField:
    name: str
    target: str  # the Node type it returns, or a row type naming a machine
    connection: bool
    by_name: bool = False  # rows that name a machine (``machine: String``) rather than Nodes


def _row_type(t: Any) -> Any:
    """The type of the rows a field returns (a connection's nodes, a list's items)."""
    if isinstance(t, GraphQLObjectType) and "edges" in t.fields:
        return _unwrap(_unwrap(t.fields["edges"].type).fields["node"].type)
    return t


def node_fields(type_name: str) -> Iterator[NodeField]:
    """The fields of ``type_name`` that return rows (Nodes, or rows naming a machine),
    callable without arguments."""
    gql_type = _schema().type_map[type_name]
    for name, f in gql_type.fields.items():
        if any(
            isinstance(a.type, GraphQLNonNull) and a.default_value is None for a in f.args.values()
        ):
            continue  # a required argument; none today (test_every_nested_field_is_probed)
        t = _unwrap(f.type)
        row = _row_type(t)
        connection = row is not t
        if _is_node(row):
            yield NodeField(name, row.name, connection)
        elif isinstance(row, GraphQLObjectType) and "machine" in row.fields:
            if _unwrap(row.fields["machine"].type).name == "String":
                yield NodeField(name, row.name, connection, by_name=True)


def selection(type_name: str, depth: int) -> str:
    """``id`` and, below ``depth``, every row field of ``type_name`` with its own selection."""
    parts = ["__typename id"]
    if depth > 0:
        for f in node_fields(type_name):
            inner = "__typename machine" if f.by_name else selection(f.target, depth - 1)
            body = f"totalCount edges {{ node {{ {inner} }} }}" if f.connection else inner
            parts.append(f"{f.name} {{ {body} }}")
    return " ".join(parts)


def node_types() -> list[str]:
    return sorted(n for n, t in _schema().type_map.items() if _is_node(t))


@dataclass
class Oracle:
    """The rows a role sees, stated apart from the code under test."""

    groups: set[int] = field(default_factory=set)
    machines: set[int] = field(default_factory=set)
    rollouts: set[int] = field(default_factory=set)
    machine_names: set[str] = field(default_factory=set)
    everything: bool = False
    seen: dict[str, set[int]] = field(default_factory=dict)

    def may_see(self, type_name: str, pk: int) -> bool:
        if self.everything:
            return True
        return pk in self.seen.get(type_name, set())


async def oracle(role: str, world: World) -> Oracle:
    if role == "admin":
        return Oracle(everything=True)
    machines = await Machine.all()
    groups: set[int] = set()
    if role.startswith("customer_"):
        name = {"customer_a": "alpha", "customer_b": "beta"}[role]
        groups = {(await ResourceGroup.get(name=name)).id}
        mine = {m.id for m in machines if m.group_id in groups}
    elif role.startswith("agent_"):
        host = (await Machine.get(name=f"host{role[-1]}")).id
        mine = {m.id for m in machines if host in (m.id, m.host_id)}
    elif role == "guest_a":
        mine = {(await Machine.get(name="alpha-web")).id}
    else:
        mine = set()
    o = Oracle(
        groups=groups, machines=mine, machine_names={m.name for m in machines if m.id in mine}
    )
    o.seen["Group"] = groups
    o.seen["Machine"] = mine
    o.seen["Window"] = {w.id for w in await Window.all() if w.machine_id in mine}
    o.seen["Activity"] = {a.id for a in await Activity.all() if a.machine_id in mine}
    if role.startswith("customer_"):
        touched = {m.rollout_id for m in await RolloutMember.all() if m.machine_id in mine}
        o.seen["Rollout"] = {
            r.id for r in await Rollout.all() if r.id in touched and r.state != "draft"
        }
        o.seen["AuditEvent"] = {
            e.id
            for e in await AuditEvent.all()
            if e.subject_type == "machine" and e.subject_id in mine
        }
    published = {a.id for a in await Announcement.all() if a.published_at is not None}
    o.seen["Announcement"] = published if role != "anonymous" else set()
    catalog = {p.id for p in await PackageRelease.all()}
    o.seen["PackageRelease"] = catalog if role != "anonymous" else set()
    return o


@dataclass
class Seen:
    """What one answer shows: Nodes (path, type, pk), machines by name (path, name) and
    connections (path, totalCount, rows shown)."""

    nodes: list[tuple[str, str, int]] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)
    counts: list[tuple[str, int, int]] = field(default_factory=list)


def walk(value: Any, path: str, seen: Seen) -> None:
    if isinstance(value, list):
        for v in value:
            walk(v, path, seen)
    elif isinstance(value, dict):
        if "id" in value and "__typename" in value:
            type_name, pk = decode_id(value["id"])
            seen.nodes.append((path, type_name, pk))
        elif "machine" in value and isinstance(value["machine"], str):
            seen.names.append((path, value["machine"]))
        if "totalCount" in value:
            seen.counts.append((path, value["totalCount"], len(value["edges"])))
        for k, v in value.items():
            if isinstance(v, dict | list):
                walk(v, f"{path}.{k}", seen)


async def starts(role: str, client: httpx.AsyncClient, token: str | None) -> list[tuple[str, Any]]:
    """(path, answer) of each reachable object with its nested fields."""
    out: list[tuple[str, Any]] = []
    if role in ("admin", "customer_a", "customer_b", "anonymous"):
        for type_name, model in MODELS.items():
            shown = selection(type_name, DEPTH)
            doc = f"query($id: ID!) {{ node(id: $id) {{ ... on {type_name} {{ {shown} }} }} }}"
            for pk in await model.all().values_list("id", flat=True):
                answer = await gql(client, doc, {"id": encode_id(type_name, pk)}, token)
                out.append((f"node({type_name}:{pk})", answer))
    if role.startswith("agent_"):
        doc = f"{{ dueWork {{ {selection('Window', DEPTH)} }} }}"
        out.append(("dueWork", await gql(client, doc, {}, token)))
    if role == "guest_a":
        doc = f"{{ guestWork {{ {selection('Activity', DEPTH)} }} }}"
        out.append(("guestWork", await gql(client, doc, {}, token)))
    return out


def answer_id(start: str) -> str:
    """The global ID a ``node(Type:pk)`` start asked for."""
    type_name, pk = start[len("node(") : -1].split(":")
    return encode_id(type_name, int(pk))


async def _world_with_rollout() -> World:
    world = await build_world()
    await _rest_and_hosts_rollout("announced")  # members in alpha, beta and the hosts
    await _due_guest_update()
    return world


async def _due_guest_update() -> None:
    """A system update due for alpha-web now, so guestWork answers something."""
    from tests.graphql.test_access_matrix import due_update

    await due_update(World())


def test_every_nested_field_is_probed() -> None:
    """Each Node type's Node fields are reached; none needs an argument (else it is skipped)."""
    for type_name in node_types():
        gql_type = _schema().type_map[type_name]
        for name, f in gql_type.fields.items():
            t = _unwrap(f.type)
            if _is_node(t) or (isinstance(t, GraphQLObjectType) and "edges" in t.fields):
                assert name in {nf.name for nf in node_fields(type_name)}, (type_name, name)
    assert set(node_types()) == set(MODELS)  # every Node type is probed by node(id)
    probed = {(t, f.name) for t in node_types() for f in node_fields(t)}
    for path in [
        ("Group", "machines"),
        ("Machine", "auditTrail"),
        ("Window", "activities"),
        ("Machine", "host"),
        ("Machine", "guests"),
        ("Rollout", "windows"),
    ]:
        assert path in probed, path


@pytest.mark.parametrize("role", ROLES)
async def test_nested_paths(client: httpx.AsyncClient, db: object, role: str) -> None:
    world = await _world_with_rollout()
    o = await oracle(role, world)
    token = world.tokens[role]
    reached: set[str] = set()
    for start, answer in await starts(role, client, token):
        if role in ("anonymous",):
            assert answer["data"] is None or answer["data"]["node"] is None, answer
            assert {e["extensions"]["code"] for e in answer["errors"]} == {"PermissionDenied"}
            continue
        assert "errors" not in answer, (start, answer)
        seen = Seen()
        walk(answer["data"], start, seen)
        for path, type_name, pk in seen.nodes:
            assert o.may_see(type_name, pk), f"{role} sees {type_name}:{pk} at {path}"
            reached.add(type_name)
        for path, name in seen.names:
            assert o.everything or name in o.machine_names, f"{role} sees {name} at {path}"
        for path, total, shown in seen.counts:
            assert total == shown, f"{role}: {path} counts {total} rows, shows {shown}"
        if start.startswith("node("):
            type_name, pk = decode_id(answer_id(start))
            got = answer["data"]["node"]
            visible = o.may_see(type_name, pk) and type_name not in NOT_BY_ID
            assert (got is not None) is visible, f"{role}: node({type_name}:{pk}) -> {got}"
    if role != "anonymous":
        assert reached, f"{role} reached no row: the probe would prove nothing"
