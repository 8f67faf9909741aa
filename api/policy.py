"""Policy questions about a caller, as pure functions of its Principal: one home for each
decision.

Which role may call which GraphQL root field is the action table in
``api.graphql.permissions.RULES``, and which rows a caller sees is ``api.scoping.scoped``; the
questions here are the finer ones asked inside an action (by GraphQL, the feeds and the
metrics route).
"""

from __future__ import annotations

from api.kinds import KINDS, ActivityKind
from api.principal import Principal, Role

__all__ = [
    "guest_machine",
    "is_operator",
    "limited_as_customer",
    "may_force",
    "may_queue",
    "may_read_all_feeds",
    "may_read_feed",
    "may_read_guest_warnings",
    "may_read_metrics",
    "may_set_max_postpones",
    "may_watch_rollouts",
]


def is_operator(who: Principal) -> bool:
    return who.is_operator


def guest_machine(who: Principal) -> int | None:
    """The machine whose guest work and hooks a caller sees and reports on: a guest token's own
    VM; none for any other caller (or a guest token without a machine)."""
    return who.machine if who.role is Role.GUEST else None


def limited_as_customer(who: Principal) -> bool:
    """The customers' limits apply (the shorter reach, counted postpones, no moving a forced
    window): to everyone but an operator."""
    return not is_operator(who)


def may_force(who: Principal) -> bool:
    """Schedule a window outside its group's policy."""
    return is_operator(who)


def may_set_max_postpones(who: Principal) -> bool:
    """Change how often a group's windows may be postponed (the limit protects the provider's
    plan: a customer may not lift it)."""
    return is_operator(who)


def may_queue(who: Principal, kind: ActivityKind) -> bool:
    """Queue an activity of this kind (the registry says which kinds only operators queue)."""
    return is_operator(who) or not KINDS[kind].operator_only


def may_read_all_feeds(who: Principal) -> bool:
    """/feeds/all.ics: every group's windows."""
    return is_operator(who)


def may_read_guest_warnings(who: Principal) -> bool:
    """A machine's guestWarnings: what its guest agent's report shows broken (swap below the
    minimum, a CPU model other than its host's, which it names)."""
    return is_operator(who)


def may_read_metrics(who: Principal) -> bool:
    """/metrics, for a token (a listed network reads it without one)."""
    return is_operator(who)


def may_watch_rollouts(who: Principal) -> bool:
    """A rollout's progress and timeline: every wave's counts, the failed machines and who
    halted it (customers see the rollout and the windows of their machines, not the fleet)."""
    return is_operator(who)


def may_read_feed(who: Principal, group_id: int) -> bool:
    """A group's feed address: for its customers and the operators, never for agents."""
    return is_operator(who) or (who.role == "customer" and group_id in who.groups)
