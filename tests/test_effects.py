"""The effects module (api.effects): each change as plain rows, the outbox's key formats and
the digest rule, each in one home."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api import effects
from api.effects import NewWindow, new_windows_notices, outbox_row
from api.notices import GroupSettings, WindowCancelled, WindowScheduled, WindowStuck
from api.payloads import to_json

DUE = datetime(2026, 11, 23, 6, tzinfo=UTC)
ids = st.integers(min_value=1, max_value=10**9)
uids = st.uuids().map(str)
stamps = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def booked(draw: st.DrawFn) -> list[NewWindow]:
    n = draw(st.integers(min_value=1, max_value=30))
    wids = draw(st.lists(ids, min_size=n, max_size=n, unique=True))
    wuids = draw(st.lists(uids, min_size=n, max_size=n, unique=True))
    return [
        NewWindow(wid, uid, draw(st.integers(0, 5)), draw(st.text(max_size=20)))
        for wid, uid in zip(wids, wuids, strict=True)
    ]


@given(st.integers(min_value=0, max_value=40), ids, booked())
def test_digest_rule_one_digest_or_one_message_per_window(
    threshold: int, group: int, windows: list[NewWindow]
) -> None:
    rows = new_windows_notices(threshold, group, ["a@example.org"], windows, DUE)
    assert all(r.group_id == group and r.next_attempt_at == DUE for r in rows)
    if threshold and len(windows) >= threshold:
        [digest] = rows
        assert digest.kind == "windows_digest" and digest.window_id is None
        assert list(digest.payload["windows"]) == [w.uid for w in windows]
        assert digest.thread_key == effects.group_thread(group)
        assert digest.dedupe_key == effects.digest_key(group, windows[0].uid, len(windows))
    else:
        assert [r.kind for r in rows] == ["window_scheduled"] * len(windows)
        assert [r.window_id for r in rows] == [w.id for w in windows]
        assert [r.thread_key for r in rows] == [w.uid for w in windows]
        assert len({r.dedupe_key for r in rows}) == len(windows)


@given(ids, uids, st.integers(0, 50), stamps)
def test_dedupe_keys_of_different_events_never_meet(
    a: int, uid: str, sequence: int, stamp: datetime
) -> None:
    keys = [
        effects.window_key(WindowScheduled.kind, uid, sequence),
        effects.window_key(WindowCancelled.kind, uid, sequence),
        effects.group_key(GroupSettings.kind, a, stamp),
        effects.digest_key(a, uid, sequence + 1),
        effects.window_stuck_key(uid),
        effects.guest_down_key(uid),
        effects.announcement_key(a, a + 1),
        effects.rollout_announced_key(a, a + 1, stamp),
        effects.rollout_settings_key(a, a + 1),
        effects.rollout_delayed_key(a, a + 1, stamp),
        effects.rollout_halted_key(a, stamp),
    ]
    assert len(set(keys)) == len(keys)
    assert all(len(k) <= 200 for k in keys)  # Notification.dedupe_key's length


@given(ids, ids, stamps)
def test_prefixes_find_their_keys_only(rollout: int, group: int, stamp: datetime) -> None:
    assert effects.rollout_announced_key(rollout, group, stamp).startswith(
        effects.rollout_announced_key_prefix(rollout)
    )
    assert not effects.rollout_announced_key(rollout + 1, group, stamp).startswith(
        effects.rollout_announced_key_prefix(rollout)
    )
    assert effects.rollout_settings_key(group, rollout).endswith(
        effects.rollout_settings_key_suffix(rollout)
    )
    assert effects.announcement_key(rollout, group).startswith(
        effects.announcement_key_prefix(rollout)
    )


def test_threads_follow_the_subject() -> None:
    about_window = outbox_row(
        WindowCancelled(2, "no work left"),
        group_id=7,
        recipients=("x@example.org",),
        due=DUE,
        window=(3, "uid-3", 2),
    )
    assert (about_window.thread_key, about_window.dedupe_key) == (
        "uid-3",
        "window_cancelled:uid-3:2",
    )
    stamp = DUE - timedelta(days=1)
    about_group = outbox_row(
        GroupSettings("UTC", "02:00", 60),
        group_id=7,
        recipients=(),
        due=DUE,
        group_stamp=stamp,
    )
    assert about_group.thread_key == effects.group_thread(7)
    assert about_group.dedupe_key == f"group_settings:7:{stamp.isoformat()}"
    for_operators = outbox_row(
        WindowStuck(host="kvm01", agent="a", minutes_over=31),
        group_id=None,
        recipients=("ops@example.org",),
        due=DUE,
        dedupe_key=effects.window_stuck_key("uid-3"),
    )
    assert for_operators.thread_key == "operators:window_stuck"


def test_a_notice_about_no_window_needs_a_key() -> None:
    with pytest.raises(ValueError, match="dedupe key"):
        outbox_row(
            WindowStuck(host="h", agent="a", minutes_over=1), group_id=None, recipients=(), due=DUE
        )


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text() | stamps,
        lambda inner: (
            st.lists(inner)
            | st.frozensets(st.integers())
            | st.dictionaries(st.integers() | st.text(), inner)
        ),
        max_leaves=10,
    )
)
def test_any_value_survives_json(value: object) -> None:
    plain = to_json(value)
    assert json.loads(json.dumps(plain)) == plain


def test_outbox_keys_are_written_in_effects_only() -> None:
    """A dedupe or thread key given as an f-string outside api/effects.py is a second home."""
    root = Path(effects.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "effects.py" or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.keyword)
                and node.arg in ("dedupe_key", "thread_key")
                and isinstance(node.value, ast.JoinedStr)
            ):
                found.append(f"{path.relative_to(root)}:{node.value.lineno}")
    assert found == []


def test_a_window_has_one_audit_name() -> None:
    """The bulk writers' audit rows name a window as its model does."""
    from api.models import Window

    start = datetime(2026, 12, 1, 2, 5, tzinfo=UTC)
    name = effects.window_name("w1@fenster", effects.window_minute(start))
    assert name == "window w1@fenster 2026-12-01 02:05Z"
    assert str(Window(uid="w1@fenster", starts_at=start, ends_at=start)) == name
