"""Global IDs and cursors: round trips, and garbage is a typed error, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.errors import NotFound, ValidationError
from api.graphql.relay import _cursor, _offset, decode_id, encode_id

names = st.sampled_from(["Group", "Machine", "Window", "Activity", "Token"])


@given(names, st.integers(min_value=1, max_value=2**31 - 1))
def test_global_ids_round_trip(type_name: str, pk: int) -> None:
    assert decode_id(encode_id(type_name, pk)) == (type_name, pk)
    assert decode_id(encode_id(type_name, pk), type_name) == (type_name, pk)


@given(names, st.integers(max_value=0) | st.integers(min_value=2**31))
def test_a_key_no_integer_column_holds_is_not_found(type_name: str, pk: int) -> None:
    with pytest.raises(NotFound):
        decode_id(encode_id(type_name, pk))


@given(st.integers(min_value=0, max_value=10**6))
def test_cursor_points_past_its_row(offset: int) -> None:
    assert _offset(_cursor(offset)) == offset + 1


@given(st.text(max_size=40))
def test_any_string_is_an_id_or_not_found(value: str) -> None:
    try:
        decode_id(value)
    except NotFound as exc:
        assert exc.kind == "node"


@given(st.text(max_size=40))
def test_any_string_is_a_cursor_or_a_validation_error(value: str) -> None:
    try:
        assert _offset(value) >= 1
    except ValidationError as exc:
        assert [e.field for e in exc.errors] == ["after"]


def test_an_id_of_another_type_is_not_found() -> None:
    with pytest.raises(NotFound):
        decode_id(encode_id("Group", 1), "Machine")
