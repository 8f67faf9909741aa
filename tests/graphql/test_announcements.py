"""Announcements and the package catalog, written by operators through GraphQL."""

from __future__ import annotations

import httpx

from api.graphql.relay import encode_id
from api.models import Announcement, AuditEvent, Notification, PackageRelease
from tests.graphql.test_mutations import mutate
from tests.graphql.world import World, gql

SHA = "ab" * 32


async def test_create_reports_every_bad_field_and_writes_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await Announcement.all().count()
    out = await mutate(
        client,
        world,
        "admin",
        "createAnnouncement",
        "CreateAnnouncementInput",
        {"slug": "Bad Slug!", "title": " ", "body": "x", "rollout": "nope"},
    )
    assert out["__typename"] == "ValidationError"
    assert {f["field"] for f in out["fields"]} == {"slug", "title", "rollout"}
    assert await Announcement.all().count() == before
    taken = await mutate(
        client,
        world,
        "admin",
        "createAnnouncement",
        "CreateAnnouncementInput",
        {"slug": "updates", "title": "Again", "body": "x"},
    )
    assert taken["__typename"] == "ValidationError" and "already exists" in str(taken["fields"])


async def test_a_draft_is_seen_by_operators_only_even_through_node(
    client: httpx.AsyncClient, world: World
) -> None:
    made = await mutate(
        client,
        world,
        "admin",
        "createAnnouncement",
        "CreateAnnouncementInput",
        {"slug": "secret-plan", "title": "Secret plan", "body": "Later.", "rollout": "r2011"},
        "... on Announcement { id publishedAt }",
    )
    assert made["__typename"] == "Announcement" and made["publishedAt"] is None
    query = "query($id: ID!) { node(id: $id) { ... on Announcement { slug } } }"
    for role, expected in (("admin", {"slug": "secret-plan"}), ("customer_a", None)):
        out = await gql(client, query, {"id": made["id"]}, world.tokens[role])
        assert out["data"]["node"] == expected, (role, out)
    listing = "{ announcements { nodes { slug } } }"
    slugs = [
        n["slug"]
        for n in (await gql(client, listing, {}, world.tokens["customer_a"]))["data"][
            "announcements"
        ]["nodes"]
    ]
    assert slugs == ["updates"]


async def test_publish_mails_the_named_groups_once(client: httpx.AsyncClient, world: World) -> None:
    out = await mutate(
        client,
        world,
        "admin",
        "publishAnnouncement",
        "PublishAnnouncementInput",
        {"slug": "draft", "groups": ["alpha", "beta"]},
        "... on Announcement { publishedAt }",
    )
    assert out["__typename"] == "Announcement" and out["publishedAt"]
    rows = await Notification.filter(kind="announcement").prefetch_related("group")
    assert sorted(r.group.name for r in rows) == ["alpha", "beta"]
    again = await mutate(
        client, world, "admin", "publishAnnouncement", "PublishAnnouncementInput", {"slug": "draft"}
    )
    assert again["__typename"] == "ValidationError" and "already published" in str(again["fields"])
    assert await Notification.filter(kind="announcement").count() == 2


async def test_publish_to_every_group_and_unknown_groups_are_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    bad = await mutate(
        client,
        world,
        "admin",
        "publishAnnouncement",
        "PublishAnnouncementInput",
        {"slug": "draft", "groups": ["alpha", "nosuch"]},
    )
    assert bad["__typename"] == "ValidationError" and "nosuch" in str(bad["fields"])
    assert (await Announcement.get(slug="draft")).published_at is None
    await mutate(
        client, world, "admin", "publishAnnouncement", "PublishAnnouncementInput", {"slug": "draft"}
    )
    assert await Notification.filter(kind="announcement").count() == 3  # ops, alpha, beta


async def test_import_refuses_every_bad_row_and_writes_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    before = (await PackageRelease.all().count(), await AuditEvent.all().count())
    linux = await PackageRelease.get(name="linux")
    rows = [
        {"name": "zlib", "version": "1.2.5", "sha256": SHA},
        {"name": "zlib", "version": "1.2.5", "sha256": "cd" * 32},  # same version, other sum
        {"name": "bash", "version": "4.2", "sha256": "xyz"},  # not 64 hex
        {"name": "linux", "version": linux.version, "sha256": "ef" * 32},  # catalog has another
        {"name": "ok", "version": "1", "sha256": SHA.upper()},
    ]
    out = await mutate(
        client,
        world,
        "admin",
        "importPackages",
        "ImportPackagesInput",
        {"packages": rows},
    )
    assert out["__typename"] == "ValidationError"
    fields = sorted(f["field"] for f in out["fields"])
    assert fields == ["rows[1].sha256", "rows[2].sha256", "rows[3].sha256"], out
    assert (await PackageRelease.all().count(), await AuditEvent.all().count()) == before


async def test_import_adds_a_release_and_is_idempotent(
    client: httpx.AsyncClient, world: World
) -> None:
    value = {
        "packages": [
            {"name": "zlib", "version": "1.2.5", "sha256": SHA.upper(), "notes": "compression"},
            {"name": "zlib", "version": "1.2.5", "sha256": SHA},  # a repeat, same sum
        ],
        "releasedAt": "2011-08-22T10:00:00Z",
    }
    selection = "... on ImportResult { added unchanged }"
    first = await mutate(
        client, world, "admin", "importPackages", "ImportPackagesInput", value, selection
    )
    assert (first["added"], first["unchanged"]) == (1, 0)
    again = await mutate(
        client, world, "admin", "importPackages", "ImportPackagesInput", value, selection
    )
    assert (again["added"], again["unchanged"]) == (0, 1)
    zlib = await PackageRelease.get(name="zlib")
    assert zlib.sha256 == SHA and zlib.summary == "compression"
    assert zlib.released_at.year == 2011
    node = await gql(
        client,
        "query($id: ID!) { node(id: $id) { ... on PackageRelease { sha256 } } }",
        {"id": encode_id("PackageRelease", zlib.id)},
        world.tokens["customer_a"],
    )
    assert node["data"]["node"] == {"sha256": SHA}
