"""The floor of the load test and of bench_graphql: the agents' dueWork done by hand in a
plain Starlette endpoint (token lookup, the due windows, their machines and activities, the
same JSON shape), so that GraphQL's own cost can be read off against it.

    uvicorn --factory tests.load.floor:create_app --workers 2   (FENSTER_DATABASE_URL set)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api import db
from api.graphql.context import bearer
from api.graphql.relay import encode_id
from api.models import Activity, Machine
from api.services import agents, tokens
from api.settings import get_settings

__all__ = ["create_app", "plain_due_work"]


async def plain_due_work(request: Request) -> JSONResponse:
    token = await tokens.authenticate(bearer(request.headers.get("authorization")))
    if token is None or token.role != "agent":
        return JSONResponse({"error": "forbidden"}, status_code=403)
    windows = await agents.due_work(token.host_id)  # type: ignore[attr-defined]
    ids = [w.id for w in windows]
    machines = {
        m.id: m.name
        for m in await Machine.filter(id__in=[w.machine_id for w in windows])  # type: ignore[attr-defined]
    }
    work: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for a in await Activity.filter(window_id__in=ids):
        work[a.window_id].append(  # type: ignore[attr-defined]
            {"id": encode_id("Activity", a.id), "kind": a.kind.upper(), "params": a.params}
        )
    return JSONResponse(
        {
            "data": {
                "dueWork": [
                    {
                        "uid": w.uid,
                        "startsAt": w.starts_at.isoformat(),
                        "endsAt": w.ends_at.isoformat(),
                        "machine": {"name": machines[w.machine_id]},  # type: ignore[attr-defined]
                        "activities": work[w.id],
                    }
                    for w in windows
                ]
            }
        }
    )


def create_app() -> Starlette:
    settings = get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.init(settings, connect=False)
        try:
            yield
        finally:
            await db.close()

    return Starlette(routes=[Route("/due", plain_due_work, methods=["POST"])], lifespan=lifespan)
