"""windows(from, to, group, state)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from api.errors import ValidationError
from api.graphql.context import Info
from api.graphql.enums import WindowState
from api.graphql.permissions import allow
from api.graphql.relay import Connection, paginate
from api.graphql.windows.types import WindowType
from api.models import Window
from api.models.keys import where
from api.scoping import scoped

__all__ = ["WindowQueries"]


@strawberry.type
class WindowQueries:
    @strawberry.field(
        extensions=allow("read"), description="Windows overlapping [from, to), earliest first."
    )
    async def windows(
        self,
        info: Info,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        group: str | None = None,
        state: WindowState | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WindowType]:
        for name, value in (("from", from_), ("to", to)):
            if value is not None and value.tzinfo is None:
                raise ValidationError.single(name, "must include a timezone offset, e.g. Z")
        if from_ is not None and to is not None and to <= from_:
            raise ValidationError.single("to", "must be later than from")
        qs = scoped(Window, info.context.principal)
        if from_ is not None:
            qs = qs.filter(ends_at__gt=from_)
        if to is not None:
            qs = qs.filter(starts_at__lt=to)
        if group is not None:
            qs = where(qs, machine__group__name=group)
        if state is not None:
            qs = qs.filter(state=state.value)
        return await paginate(qs.order_by("starts_at", "id"), first, after, WindowType.from_model)
