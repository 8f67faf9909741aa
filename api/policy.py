"""Policy questions about a token's role, as pure functions: one home for each decision.

Which role may call which GraphQL root field is the action table in
``api.graphql.permissions.RULES``, and which rows a role sees is scoped there too; the questions
here are the finer ones asked inside an action (by GraphQL, the feeds and the metrics route).
``role`` is the token's role, None without a token.
"""

from __future__ import annotations

from api.kinds import KINDS, ActivityKind

__all__ = [
    "is_operator",
    "limited_as_customer",
    "may_force",
    "may_queue",
    "may_read_all_feeds",
    "may_read_guest_warnings",
    "may_read_metrics",
    "may_set_max_postpones",
    "may_watch_rollouts",
]

OPERATOR = "admin"


def is_operator(role: str | None) -> bool:
    return role == OPERATOR


def limited_as_customer(role: str | None) -> bool:
    """The customers' limits apply (the shorter reach, counted postpones, no moving a forced
    window): to everyone but an operator."""
    return not is_operator(role)


def may_force(role: str | None) -> bool:
    """Schedule a window outside its group's policy."""
    return is_operator(role)


def may_set_max_postpones(role: str | None) -> bool:
    """Change how often a group's windows may be postponed (the limit protects the provider's
    plan: a customer may not lift it)."""
    return is_operator(role)


def may_queue(role: str | None, kind: ActivityKind) -> bool:
    """Queue an activity of this kind (the registry says which kinds only operators queue)."""
    return is_operator(role) or not KINDS[kind].operator_only


def may_read_all_feeds(role: str | None) -> bool:
    """/feeds/all.ics: every group's windows."""
    return is_operator(role)


def may_read_guest_warnings(role: str | None) -> bool:
    """A machine's guestWarnings: what its guest agent's report shows broken (swap below the
    minimum, a CPU model other than its host's, which it names)."""
    return is_operator(role)


def may_read_metrics(role: str | None) -> bool:
    """/metrics, for a token (a listed network reads it without one)."""
    return is_operator(role)


def may_watch_rollouts(role: str | None) -> bool:
    """A rollout's progress and timeline: every wave's counts, the failed machines and who
    halted it (customers see the rollout and the windows of their machines, not the fleet)."""
    return is_operator(role)
