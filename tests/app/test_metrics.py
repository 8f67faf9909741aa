"""/metrics through the ASGI app: who may read it, what it counts, and that no label carries
customer data."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tortoise.context import TortoiseContext

from api.app import create_app
from api.models import Machine, Notification, Window
from api.notify import mailer
from api.notify.transport import MaildirTransport
from api.services.watchdog import flag_stuck
from api.settings import Settings
from tests.graphql.world import World, build_world, gql

RULES = Path(__file__).resolve().parents[2] / "docs" / "fenster.rules.yml"


@pytest.fixture
async def world(db: TortoiseContext) -> World:
    return await build_world()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return samples(r.text)


def remote(settings: Settings, address: str) -> httpx.AsyncClient:
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://fenster.test")


async def test_only_allowed_networks_or_admins_read_metrics(
    world: World, settings: Settings
) -> None:
    async with remote(settings, "203.0.113.7") as outside:
        r = await outside.get("/metrics")
        assert r.status_code == 403
        assert "metrics_from" in r.text
        for role in ("customer_a", "agent_1"):
            r = await outside.get(
                "/metrics", headers={"Authorization": f"Bearer {world.tokens[role]}"}
            )
            assert r.status_code == 403, role
        r = await outside.get(
            "/metrics", headers={"Authorization": f"Bearer {world.tokens['admin']}"}
        )
        assert r.status_code == 200
        assert "fenster_windows" in r.text
    wider = Settings(**{**settings.describe(), "metrics_from": "203.0.113.0/24"})
    async with remote(wider, "203.0.113.7") as inside:
        assert (await inside.get("/metrics")).status_code == 200


async def test_requests_are_counted_by_route_template_not_by_name(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await scrape(client)
    r = await client.get("/feeds/alpha.ics", params={"token": "not-the-token"})
    assert r.status_code in (403, 404)
    await client.get("/healthz")
    r = await client.get("/metrics")
    after = samples(r.text)
    key = (
        "fenster_http_requests_total",
        (("method", "GET"), ("route", "/healthz"), ("status", "200")),
    )
    assert after[key] == before.get(key, 0) + 1
    feed = [
        k
        for k in after
        if k[0] == "fenster_http_requests_total" and ("route", "/feeds/{group}.ics") in k[1]
    ]
    assert feed, sorted(after)
    assert "alpha" not in r.text and "not-the-token" not in r.text


async def test_graphql_operations_by_root_field_and_outcome(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await scrape(client)
    await gql(client, "query Mine { dueWork { uid } }", token=world.tokens["agent_1"])
    await gql(client, "{ dueWork { uid } }", token=world.tokens["customer_a"])  # refused
    await gql(client, "{ noSuchField }", token=world.tokens["admin"])
    after = await scrape(client)

    def delta(field: str, outcome: str) -> float:
        key = (
            "fenster_graphql_operations_total",
            (
                ("field", field),
                ("outcome", outcome),
                ("type", "query" if field != "invalid" else "unknown"),
            ),
        )
        return after.get(key, 0) - before.get(key, 0)

    assert delta("dueWork", "ok") == 1
    assert delta("dueWork", "error") == 1
    assert delta("invalid", "invalid") == 1
    assert not [k for k in after if "Mine" in str(k)]  # the client's operation name is no label


async def test_directory_gauges(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    now = datetime.now(UTC)
    host = await Machine.get(id=world.ids["host1"])
    host.observed_at = now - timedelta(minutes=11)
    await host.save(update_fields=["observed_at"])
    stuck = await Window.filter(state="planned").first()
    assert stuck is not None
    await Window.filter(id=stuck.id).update(
        state="running", starts_at=now - timedelta(hours=2), ends_at=now - timedelta(minutes=31)
    )
    assert len(await flag_stuck(settings)) == 1  # the watchdog's flag is what the gauge counts
    before = await scrape(client)
    windows = {dict(k[1])["state"]: v for k, v in before.items() if k[0] == "fenster_windows"}
    expected: dict[str, float] = {}
    for state in await Window.all().values_list("state", flat=True):
        expected[str(state)] = expected.get(str(state), 0) + 1
    assert windows == expected and expected["running"] >= 1
    assert before[("fenster_windows_stuck", ())] == 1
    age = before[("fenster_agent_last_report_age_seconds", (("host", host.name),))]
    assert 11 * 60 <= age < 12 * 60
    pending = await Notification.filter(state="pending").count()
    assert before.get(("fenster_outbox_rows", (("state", "pending"),)), 0) == pending

    # the mailer's attempts are counted, and the outbox gauge follows
    result = await mailer.run_once(settings, MaildirTransport(settings.maildir))
    assert result.sent > 0
    after = await scrape(client)
    sent = ("fenster_mail_attempts_total", (("outcome", "sent"),))
    assert after[sent] - before.get(sent, 0) == result.sent
    assert (
        after.get(("fenster_outbox_rows", (("state", "pending"),)), 0)
        == await Notification.filter(state="pending").count()
    )


async def test_every_metric_the_alert_rules_read_is_served(client: httpx.AsyncClient) -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    exprs = [rule["expr"] for group in groups for rule in group["rules"]]
    wanted = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for expr in exprs
        for name in re.findall(r"\bfenster_[a-z_]+", expr)
    }
    r = await client.get("/metrics")
    served = {family.name for family in text_string_to_metric_families(r.text)}
    assert len(exprs) >= 5 and wanted and wanted <= served, wanted - served
