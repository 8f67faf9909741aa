"""Access rules, in one place: who may call which field, and which rows each token sees.

- admin: everything;
- customer: reads and changes only its groups (their machines, windows, activities);
- agent: its own host's machines and windows, only through the agent calls;
- guest: its own machine's guest work (system_update), only through the guest agent's calls;
- anonymous: nothing but introspection.

Root fields carry ``allow(ACTION)`` (a Strawberry field extension reading :data:`RULES`);
resolvers, ``node(id)`` and the DataLoaders read rows through ``api.scoping.scoped`` (which rows
the request's Principal sees, in one place), so nested fields are scoped like root fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from api import errors, policy
from api.graphql.arguments import CheckArguments
from api.kinds import FOR_HOST_REBOOT, ActivityKind
from api.scheduling.texts import audit_actor, without_host

if TYPE_CHECKING:
    from api.graphql.context import Context, Info

__all__ = [
    "RULES",
    "allow",
    "can_see_feed",
    "can_see_guest_warnings",
    "can_watch_rollouts",
    "check_activity_kind",
    "for_customers",
    "require",
    "shown_actor",
    "shown_details",
    "shown_log",
]

ADMIN = frozenset({"admin"})
STAFF_OR_CUSTOMER = frozenset({"admin", "customer"})
AGENT = frozenset({"agent"})
GUEST = frozenset({"guest"})
ANY_TOKEN = frozenset({"admin", "customer", "agent", "guest"})

# action -> roles allowed to perform it. Every root field names one action.
RULES: dict[str, frozenset[str]] = {
    "me": ANY_TOKEN,
    "read": STAFF_OR_CUSTOMER,  # groups, machines, windows, activities, catalog, node
    "audit.read": ADMIN,
    "groups.create": ADMIN,
    "groups.update": STAFF_OR_CUSTOMER,
    "groups.rotate_feed_token": STAFF_OR_CUSTOMER,
    "machines.register": ADMIN,
    "machines.change_desired": STAFF_OR_CUSTOMER,
    "machines.set_auto_schedule": STAFF_OR_CUSTOMER,
    "machines.set_representative": ADMIN,
    "machines.set_redundancy": STAFF_OR_CUSTOMER,
    "activities.queue": STAFF_OR_CUSTOMER,
    "activities.cancel": STAFF_OR_CUSTOMER,
    "windows.schedule_at": STAFF_OR_CUSTOMER,
    "windows.postpone": STAFF_OR_CUSTOMER,
    "windows.cancel": ADMIN,
    "windows.force_host_reboot": ADMIN,
    "tokens.create": ADMIN,
    "tokens.revoke": ADMIN,
    "announcements.write": ADMIN,  # create, update, publish; and reading drafts
    "catalog.import": ADMIN,
    "rollouts.write": ADMIN,  # create, preview, announce, delay, halt, resume, cancel, retry
    "rollouts.watch": ADMIN,  # the timeline (a rollout's progress: policy.may_watch_rollouts)
    "site.status": ADMIN,
    "agent": AGENT,
    "guest": GUEST,  # a guest agent: its own machine's due guest work, and its reports
}


def _role(ctx: Context) -> str | None:
    return ctx.principal.role


def require(ctx: Context, action: str) -> None:
    """Raise api.errors.PermissionDenied unless the request's token may do ``action``."""
    role = _role(ctx)
    if role is None:
        raise errors.PermissionDenied(
            "authentication required: send 'Authorization: Bearer <token>'"
        )
    if role not in RULES[action]:
        article = "an" if role[0] in "aeiou" else "a"
        raise errors.PermissionDenied(f"{article} {role} token may not do this ({action})")


class _Allowed(BasePermission):
    def __init__(self, action: str) -> None:
        if action not in RULES:
            raise KeyError(action)
        self.action = action

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        require(info.context, self.action)  # raises with the precise reason
        return True


def allow(action: str) -> list[FieldExtension]:
    """Field extensions for a root field guarded by ``action`` (the last runs first: the
    permission, then the refusal of arguments no column can hold)."""
    return [
        CheckArguments(),
        PermissionExtension(permissions=[_Allowed(action)], use_directives=False),
    ]


def check_activity_kind(ctx: Context, kind: ActivityKind) -> None:
    if not policy.may_queue(ctx.principal, kind):
        raise errors.PermissionDenied(f"only an operator may queue a {kind}")


# details, params and actors name VM hosts and operators' tokens; customers read them without
# (api.scheduling.texts words the rest); operators and host agents, who work on the hosts,
# keep them. A guest token lives inside the customer's VM: it reads what customers read.
HOST_DETAILS = frozenset({"host", FOR_HOST_REBOOT})
AS_CUSTOMERS = frozenset({"customer", "guest"})


def for_customers(ctx: Context) -> bool:
    """Texts are shown as customers read them (no VM host's name, no operator's token)."""
    return _role(ctx) in AS_CUSTOMERS


def shown_details(ctx: Context, details: Any) -> Any:
    if for_customers(ctx) and isinstance(details, dict):
        return {k: v for k, v in details.items() if k not in HOST_DETAILS}
    return details


def shown_actor(ctx: Context, actor: str) -> str:
    return audit_actor(actor) if for_customers(ctx) else actor


def shown_log(ctx: Context, text: str | None, host_name: str | None) -> str | None:
    """An agent's log of work on a VM: customers read it without the VM host's name."""
    if text and for_customers(ctx):
        return without_host(text, host_name)
    return text


def can_see_guest_warnings(ctx: Context) -> bool:
    """What a guest's report shows broken (swap, CPU model against the host's)."""
    return policy.may_read_guest_warnings(ctx.principal)


def can_watch_rollouts(ctx: Context) -> bool:
    """A rollout's progress (every wave's counts, failed machines) and its timeline."""
    return policy.may_watch_rollouts(ctx.principal)


def can_see_feed(ctx: Context, group_id: int) -> bool:
    """Feed URLs go to the group's customers and to operators, never to agents."""
    return policy.may_read_feed(ctx.principal, group_id)
