"""The policy questions (api.policy): an operator may, everyone else may not."""

from __future__ import annotations

import pytest

from api import policy
from api.kinds import KINDS, ActivityKind
from api.models.tokens import ROLES
from api.principal import ANONYMOUS, Principal

ROLE_OR_NONE = [*ROLES, None]


def who(role: str | None) -> Principal:
    return ANONYMOUS if role is None else Principal.of(role, f"{role}:test")


@pytest.mark.parametrize("role", ROLE_OR_NONE)
def test_only_an_operator_may(role: str | None) -> None:
    operator = role == "admin"
    assert policy.is_operator(who(role)) is operator
    assert policy.limited_as_customer(who(role)) is not operator
    assert policy.may_force(who(role)) is operator
    assert policy.may_set_max_postpones(who(role)) is operator
    assert policy.may_read_all_feeds(who(role)) is operator
    assert policy.may_read_metrics(who(role)) is operator
    assert policy.may_read_guest_warnings(who(role)) is operator


@pytest.mark.parametrize("role", ROLE_OR_NONE)
@pytest.mark.parametrize("kind", list(ActivityKind))
def test_operator_only_kinds_are_queued_by_operators(role: str | None, kind: ActivityKind) -> None:
    assert policy.may_queue(who(role), kind) is (role == "admin" or not KINDS[kind].operator_only)
    if kind is ActivityKind.HOST_REBOOT:
        assert policy.may_queue(who(role), kind) is (role == "admin")
