"""N+1 guard: 1,000 machines with their group and host cost at most 3 SQL queries
(machines, groups, hosts), plus the one that looks up the request's token."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from api.models import Machine, ResourceGroup
from api.services import tokens

QUERY = (
    "{ machines(first: 1000, filter: {kind: VM}) "
    "{ edges { node { name group { name } host { name } } } } }"
)


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(record.getMessage())


@contextmanager
def counting_sql() -> Iterator[list[str]]:
    """Every statement Tortoise sends while the block runs (it logs each at DEBUG)."""
    logger = logging.getLogger("tortoise.db_client")
    handler, level = _Count(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def build_fleet(vms: int = 1000, hosts: int = 10) -> str:
    groups = [
        await ResourceGroup.create(name=f"g{i}", contacts=[f"ops@g{i}.example"]) for i in range(5)
    ]
    await Machine.bulk_create(
        [Machine(name=f"kvm{i:02d}", kind="host", group=groups[0]) for i in range(hosts)]
    )
    host_rows = await Machine.filter(kind="host").order_by("name")
    await Machine.bulk_create(
        [
            Machine(name=f"vm{i:04d}", kind="vm", group=groups[i % 5], host=host_rows[i % hosts])
            for i in range(vms)
        ]
    )
    return (await tokens.create_token("test", name="admin", role="admin"))[1]


async def test_thousand_machines_in_three_queries(client: httpx.AsyncClient, db: object) -> None:
    secret = await build_fleet()
    with counting_sql() as statements:
        response = await client.post(
            "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {secret}"}
        )
    body = response.json()
    assert "errors" not in body, body
    edges = body["data"]["machines"]["edges"]
    assert len(edges) == 1000
    vm = next(e["node"] for e in edges if e["node"]["name"] == "vm0007")
    assert vm == {"name": "vm0007", "group": {"name": "g2"}, "host": {"name": "kvm07"}}
    token_lookup, *listing = statements
    assert '"api_token"' in token_lookup
    assert len(listing) <= 3, "\n".join(listing)
    assert not any('"api_token"' in s for s in listing)
