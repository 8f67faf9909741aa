"""A small world for the GraphQL tests: two customer groups, two hosts, one token per role."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx

from api.models import Activity, Announcement, PackageRelease, Rollout, Wave, Window
from api.scheduling import Policy, occurrences
from api.services import groups, machines, tokens

__all__ = ["World", "build_world", "gql"]


@dataclass
class World:
    tokens: dict[str, str | None] = field(default_factory=dict)  # role label -> secret
    ids: dict[str, Any] = field(default_factory=dict)


async def build_world() -> World:
    w = World()
    ops = await groups.create_group(
        "test",
        name="ops",
        contacts=["ops@provider.example"],
        timezone="UTC",
        window_start=time(6, 0),
        window_minutes=120,
        weekdays=[0, 1, 2, 3, 4, 5, 6],
        notice_minutes=0,
    )
    alpha = await groups.create_group(
        "test",
        name="alpha",
        title="Alpha",
        contacts=["ops@alpha.example"],
        timezone="Europe/Berlin",
        window_start=time(2, 0),
        window_minutes=120,
        weekdays=[0, 1, 2, 3, 4, 5, 6],
        notice_minutes=0,
    )
    beta = await groups.create_group(
        "test",
        name="beta",
        title="Beta",
        contacts=["ops@beta.example"],
        timezone="America/New_York",
        window_start=time(1, 0),
        window_minutes=180,
        weekdays=[0, 1, 2, 3, 4],
        notice_minutes=60,
    )
    host1 = await machines.register_machine(
        "test",
        name="host1",
        group=ops,
        kind="host",
        desired_cores=24,
        desired_memory_mib=131072,
        desired_swap_mib=8192,
        auto_schedule=False,
    )
    host2 = await machines.register_machine(
        "test",
        name="host2",
        group=ops,
        kind="host",
        desired_cores=24,
        desired_memory_mib=131072,
        desired_swap_mib=8192,
        auto_schedule=False,
    )
    vm_a = await machines.register_machine(
        "test",
        name="alpha-web",
        group=alpha,
        host=host1,
        desired_cores=2,
        desired_memory_mib=2048,
        desired_kernel="2.6.32",
    )
    vm_b = await machines.register_machine(
        "test",
        name="beta-db",
        group=beta,
        host=host2,
        desired_cores=4,
        desired_memory_mib=4096,
        desired_kernel="2.6.32",
    )
    now = datetime.now(UTC)
    for vm in (vm_a, vm_b):
        vm.observed_cores = vm.desired_cores
        vm.observed_memory_mib = vm.desired_memory_mib
        vm.observed_kernel = vm.desired_kernel
        vm.observed_state = "running"
        await vm.save()
        window = await Window.create(
            machine=vm,
            starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(hours=1),
            reason="test: due now",
        )
        await Activity.create(
            machine=vm,
            kind="reboot",
            state="scheduled",
            estimate_minutes=5,
            window=window,
            requested_by="test",
        )
        w.ids[f"window:{vm.name}"] = window.uid
    policy = Policy("Europe/Berlin", time(2, 0), 120, (0, 1, 2, 3, 4, 5, 6))
    occ = next(occurrences(policy, now + timedelta(days=2), now + timedelta(days=4)))
    future = await Window.create(
        machine=vm_a, starts_at=occ.starts_at, ends_at=occ.ends_at, reason="test: regular window"
    )
    await Activity.create(
        machine=vm_a,
        kind="kernel_update",
        state="scheduled",
        estimate_minutes=15,
        window=future,
        params={"kernel": "2.6.38"},
        requested_by="test",
    )
    w.ids["future:alpha-web"] = future.uid
    w.ids["group:alpha"] = alpha.id
    w.ids["host1"] = host1.id
    later = await Activity.create(
        machine=vm_a, kind="system_update", estimate_minutes=30, requested_by="test"
    )
    w.ids["queued:alpha-web"] = later.id
    await PackageRelease.create(
        name="linux", version="2.6.38", sha256="a" * 64, released_at=now, summary="kernel"
    )
    await Announcement.create(slug="updates", title="Updates", body="Soon.", published_at=now)
    draft = await Announcement.create(slug="draft", title="Draft", body="Not yet.")
    w.ids["announcement:draft"] = draft.id
    rollout = await Rollout.create(name="r2011", title="August updates", target="2.6.38")
    await Wave.create(
        rollout=rollout, position=0, name="infrastructure", selector="infrastructure", starts_at=now
    )
    w.tokens["anonymous"] = None
    w.tokens["admin"] = (await tokens.create_token("test", name="admin", role="admin"))[1]
    w.tokens["customer_a"] = (
        await tokens.create_token("test", name="cust a", role="customer", groups=[alpha])
    )[1]
    token_b, w.tokens["customer_b"] = await tokens.create_token(
        "test", name="cust b", role="customer", groups=[beta]
    )
    w.ids["token:customer_b"] = token_b.id
    w.tokens["agent_1"] = (
        await tokens.create_token("test", name="agent 1", role="agent", host=host1)
    )[1]
    w.tokens["agent_2"] = (
        await tokens.create_token("test", name="agent 2", role="agent", host=host2)
    )[1]
    w.tokens["guest_a"] = (
        await tokens.create_token("test", name="guest a", role="guest", machine=vm_a)
    )[1]
    w.ids["alpha-web"] = vm_a.id
    return w


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()
