"""Properties of the signed postpone link and its form token (pure: no database)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.pages import links
from api.settings import Settings

SETTINGS = Settings(link_secret="property-test-secret-" + "p" * 32, public_url="https://f.example")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ALPHABET = string.ascii_letters + string.digits + "-_."


@dataclass(frozen=True)
class W:
    uid: str
    sequence: int
    starts_at: datetime


windows = st.builds(
    W,
    uid=st.text(min_size=1, max_size=80).filter(lambda s: "\x00" not in s),
    sequence=st.integers(min_value=0, max_value=10**6),
    starts_at=st.integers(min_value=1, max_value=60 * 24 * 90).map(
        lambda m: NOW + timedelta(minutes=m)
    ),
)


def token_of(w: W) -> str:
    return links.postpone_url(SETTINGS, w, NOW).rsplit("/postpone/", 1)[1]


@given(windows)
def test_a_link_reads_back_until_it_expires(w: W) -> None:
    claim = links.read_link(SETTINGS, token_of(w), NOW)
    assert isinstance(claim, links.LinkClaim)
    assert (claim.uid, claim.sequence) == (w.uid, w.sequence)
    assert claim.expires_at == min(w.starts_at, NOW + timedelta(days=14)).replace(microsecond=0)
    assert links.read_link(SETTINGS, token_of(w), claim.expires_at) is links.LinkProblem.EXPIRED


@given(windows, st.data())
def test_a_changed_link_never_names_another_window(w: W, data: st.DataObject) -> None:
    token = token_of(w)
    i = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    c = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != token[i]))
    claim = links.read_link(SETTINGS, token[:i] + c + token[i + 1 :], NOW)
    # only base64's unused low bits can change without the signature noticing: same claim
    assert claim is links.LinkProblem.TAMPERED or (
        isinstance(claim, links.LinkClaim) and (claim.uid, claim.sequence) == (w.uid, w.sequence)
    )


@given(st.text(ALPHABET, min_size=8, max_size=40), windows, windows)
def test_form_token_fits_one_cookie_and_one_link(nonce: str, w: W, other: W) -> None:
    link = token_of(w)
    field = links.csrf_token(SETTINGS, nonce, link)
    assert links.csrf_valid(SETTINGS, field, nonce, link)
    assert not links.csrf_valid(SETTINGS, field, nonce + "x", link)
    assert not links.csrf_valid(SETTINGS, field, "", link)
    if token_of(other) != link:
        assert not links.csrf_valid(SETTINGS, field, nonce, token_of(other))
    foreign = Settings(link_secret="another-secret-" + "q" * 32)
    assert not links.csrf_valid(foreign, field, nonce, link)
