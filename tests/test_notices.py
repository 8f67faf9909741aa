"""The notice registry: every kind's payload survives the outbox's JSON round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.models import NOTIFICATION_KINDS
from api.notices import (
    NOTICES,
    UnknownNotice,
    WindowPostponed,
    WindowReminder,
    WindowsDigest,
    notice_of,
)

# any instance of any registered kind, built from its own field types
notices = st.one_of(
    *(
        st.builds(
            cls,
            **{
                name: st.datetimes(timezones=st.just(UTC))
                for name in ("previous_starts_at",)
                if name in cls.__dataclass_fields__
            },
        )
        for cls in NOTICES.values()
    )
)


@given(notices)
def test_payload_round_trip_through_json(notice: object) -> None:
    stored = json.loads(json.dumps(notice.to_payload()))  # type: ignore[attr-defined]
    assert notice_of(notice.kind, stored) == notice  # type: ignore[attr-defined]


def test_the_models_kind_list_is_the_registry() -> None:
    assert tuple(NOTICES) == NOTIFICATION_KINDS


def test_unknown_kind_and_unknown_keys() -> None:
    with pytest.raises(UnknownNotice, match="unknown notice kind 'nope'"):
        notice_of("nope", {})
    # keys a kind does not know (older rows carried more) are ignored
    assert notice_of("window_reminder", {"sequence": 3, "extra": 1}) == WindowReminder(3)


def test_stored_forms() -> None:
    at = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert WindowPostponed(2, "r", at).to_payload() == {
        "sequence": 2,
        "reason": "r",
        "previous_starts_at": "2026-12-01T01:00:00+00:00",
    }
    assert WindowsDigest(("a@f",), (4,)).to_payload() == {"windows": ["a@f"], "window_ids": [4]}
    assert WindowsDigest(("a@f",)).window_uids() == ("a@f",)


def test_a_reminder_is_stale_once_its_window_moved() -> None:
    r = WindowReminder(sequence=2)
    assert r.stale("planned", 2) is None
    assert r.stale("planned", 3) == "the window is planned at sequence 3 now"
    assert r.stale("cancelled", 2) == "the window is cancelled at sequence 2 now"
