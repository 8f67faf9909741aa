"""Properties of the hand-made operations' decisions (api.scheduling.manual): a decision or
every problem found, never a silent override."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.scheduling import Policy, check_start, containing
from api.scheduling.manual import (
    GroupNotice,
    Refused,
    StartDecision,
    StartRequest,
    decide_start,
    host_reboot_problems,
    reduced_reason,
)
from api.scheduling.slots import Conflict

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kathmandu", "UTC"]
BASE = datetime(2026, 1, 1, tzinfo=UTC)
HIDDEN = "kvm-secret-07"  # a host name customers may not read
CLASH = Conflict("host full", "the host is full", f"host {HIDDEN} is full")


@st.composite
def requests(draw: st.DrawFn) -> StartRequest:
    policy = Policy(
        draw(st.sampled_from(ZONES)),
        time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45]))),
        draw(st.sampled_from([30, 60, 120, 240, 600])),
        tuple(sorted(draw(st.sets(st.integers(0, 6), min_size=1)))),
    )
    now = BASE + timedelta(minutes=draw(st.integers(0, 365 * 1440)))
    start = now + timedelta(minutes=draw(st.integers(0, 60 * 1440)))
    not_before = draw(st.none() | st.just(now + timedelta(minutes=draw(st.integers(0, 90000)))))
    return StartRequest(
        policy,
        draw(st.sampled_from([0, 60, 1440, 7 * 1440])),
        now,
        start,
        draw(st.integers(5, 300)),
        not_before,
        now + timedelta(days=draw(st.integers(0, 60))),
        draw(st.booleans()),
        draw(st.booleans()),
    )


@given(requests(), st.booleans())
def test_a_decision_or_every_problem(req: StartRequest, clashes: bool) -> None:
    seen: list[tuple[datetime, datetime]] = []

    def conflict(start: datetime, end: datetime) -> Conflict | None:
        seen.append((start, end))
        return CLASH if clashes else None

    decision = decide_start(req, conflict)
    _, rule_problems = check_start(req.policy, req.notice_minutes, req.now, req.start, req.needed)
    late = req.not_before is not None and req.start < req.not_before
    past_deadline = req.by_customer and req.start > req.deadline
    expected = len(rule_problems) + late + past_deadline + clashes
    if isinstance(decision, Refused):
        assert not req.force and expected > 0
        assert len(decision.problems) == expected  # every problem, not the first
        return
    assert isinstance(decision, StartDecision)
    assert decision.forced == (expected > 0) and len(decision.overridden) == expected
    assert req.force or not decision.forced  # nothing is overridden unasked
    start = req.start
    assert start < decision.ends_at and seen == [(start, decision.ends_at)]
    if not decision.forced:  # a regular start keeps to its regular window, with room for the work
        occ = containing(req.policy, start)
        assert occ is not None and decision.ends_at == occ.ends_at
        assert decision.ends_at - start >= timedelta(minutes=req.needed)
        assert req.policy.label in decision.reason


@given(requests())
def test_customers_never_read_the_hosts_name(req: StartRequest) -> None:
    decision = decide_start(req, lambda s, e: CLASH)
    told = decision.problems if isinstance(decision, Refused) else decision.overridden
    assert (HIDDEN in " ".join(told)) == (not req.by_customer)


names = st.text("abcdefgh", min_size=1, max_size=6)


@given(
    st.lists(
        st.builds(GroupNotice, names, st.sampled_from(ZONES), st.integers(0, 30 * 1440)),
        min_size=1,
        max_size=6,
    ),
    st.integers(-1440, 40 * 1440),
)
def test_a_host_reboot_respects_every_groups_notice(groups: list[GroupNotice], ahead: int) -> None:
    now = BASE
    start = now + timedelta(minutes=ahead)
    problems = host_reboot_problems(groups, now, start)
    late = [g for g in groups if start < now + timedelta(minutes=g.notice_minutes)]
    assert len(problems) == len(late)
    assert all(p.startswith(f"group {g.name} ") for p, g in
               zip(problems, sorted(late, key=lambda g: g.name), strict=True))  # fmt: skip


@given(st.text(max_size=30), st.lists(st.sampled_from(["kernel_update", "reboot"]), min_size=1))
def test_a_reduced_window_keeps_its_reason_and_names_the_work(
    reason: str, kinds: list[str]
) -> None:
    text = reduced_reason(reason, kinds, "by request")
    assert text.startswith(reason + "\n") and text.endswith("cancelled (by request)")
    assert all(k.replace("_", " ") in text for k in kinds)
