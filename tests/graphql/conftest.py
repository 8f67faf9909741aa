"""Fixtures of the GraphQL tests."""

from __future__ import annotations

import pytest
from tortoise.context import TortoiseContext

from tests.graphql.world import World, build_world


@pytest.fixture
async def world(db: TortoiseContext) -> World:
    return await build_world()
