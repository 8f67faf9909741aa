"""dueWork: the agent asks what to do now."""

from __future__ import annotations

import strawberry

from api.graphql.context import Info
from api.graphql.permissions import allow
from api.graphql.windows.types import WindowType
from api.services import agents

__all__ = ["AgentQueries"]


@strawberry.type
class AgentQueries:
    @strawberry.field(
        extensions=allow("agent"),
        description="Agents: windows of this host's machines whose start has come.",
    )
    async def due_work(self, info: Info, agent: str | None = None) -> list[WindowType]:
        """With ``agent``, running windows another agent claimed are left out."""
        host_id = info.context.principal.host
        if host_id is None:
            return []
        rows = await agents.due_work(host_id, agent=agent)
        info.context.loaders.prime_windows(rows)
        return [WindowType.from_model(w) for w in rows]
