"""Which rows a principal sees: one function, ``scoped(Model, principal)``, for every model
GraphQL shows (NetBox's ``get_queryset`` move).

Root fields, ``node(id)``, lookups by name and every DataLoader start from it, so a nested
field (``group.machines``, ``machine.auditTrail``, ``window.activities``, ...) reads through
the same filter as the root field and cannot forget it.

- an operator (admin): every row;
- a customer: its groups, their machines, those machines' windows, activities and audit trail,
  the announced rollouts that touch one of them;
- a host agent: its host and the host's VMs, their windows and activities;
- a guest agent: its own machine, its windows and activities;
- anonymous: nothing.

Announcements are public once published (operators also read drafts); the package catalog is
public. Which *fields* a role may call stays in ``api.graphql.permissions.RULES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tortoise.expressions import Q, Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet

from api.models import (
    Activity,
    Announcement,
    AuditEvent,
    Machine,
    PackageRelease,
    ResourceGroup,
    Rollout,
    RolloutMember,
    Window,
)
from api.principal import Principal, Role

__all__ = ["SCOPES", "scoped"]

M = TypeVar("M", bound=Model)

ALL = Q()  # no condition: every row
NONE = Q(id__lt=0)  # no row (primary keys are positive)


def _on(**condition: Any) -> Q:
    return Q(**condition)


def _machines(p: Principal, prefix: str = "") -> Q:
    """The machines ``p`` sees, as a condition on ``prefix`` + machine columns."""
    if p.role is Role.ADMIN:
        return ALL
    if p.role is Role.CUSTOMER:
        return _on(**{f"{prefix}group_id__in": list(p.groups)})
    if p.role is Role.AGENT and p.host is not None:
        return _on(**{f"{prefix}id": p.host}) | _on(**{f"{prefix}host_id": p.host})
    if p.role is Role.GUEST and p.machine is not None:
        return _on(**{f"{prefix}id": p.machine})
    return NONE


def _groups(p: Principal) -> Q:
    if p.role is Role.ADMIN:
        return ALL
    if p.role is Role.CUSTOMER:
        return Q(id__in=list(p.groups))
    return NONE


def _audit(p: Principal) -> Q:
    """Operators: the whole trail. Customers: their machines' trails (who changed them). The
    agents carry work out and read no trail."""
    if p.role is Role.ADMIN:
        return ALL
    if p.role is Role.CUSTOMER:
        mine = Machine.filter(_machines(p)).values("id")
        return Q(subject_type="machine", subject_id__in=Subquery(mine))
    return NONE


def _rollouts(p: Principal) -> Q:
    """Operators: every rollout. Customers: announced (not draft) rollouts that touch one of
    their machines."""
    if p.role is Role.ADMIN:
        return ALL
    if p.role is Role.CUSTOMER:
        members = RolloutMember.filter(_machines(p, "machine__")).values("rollout_id")
        return Q(id__in=Subquery(members)) & ~Q(state="draft")
    return NONE


def _announcements(p: Principal) -> Q:
    """Published announcements; drafts too for those who write them (operators)."""
    return ALL if p.role is Role.ADMIN else Q(published_at__not_isnull=True)


# model -> the condition on its rows for a principal
SCOPES: dict[type[Model], Callable[[Principal], Q]] = {
    ResourceGroup: _groups,
    Machine: _machines,
    Window: lambda p: _machines(p, "machine__"),
    Activity: lambda p: _machines(p, "machine__"),
    AuditEvent: _audit,
    Rollout: _rollouts,
    Announcement: _announcements,
    PackageRelease: lambda p: ALL,
}


def scoped(model: type[M], principal: Principal) -> QuerySet[M]:
    """The rows of ``model`` that ``principal`` may see (a model without a scope: KeyError)."""
    condition: Any = SCOPES[model](principal)
    qs: QuerySet[M] = model.all()
    return qs if condition is ALL else qs.filter(condition)
