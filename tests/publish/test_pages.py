"""Directory values -> Markdown: the pure page builders of the notice site."""

from __future__ import annotations

from datetime import timedelta

import icalendar
from hypothesis import given
from hypothesis import strategies as st

from api.publish import layout
from api.publish.changes import release_changes
from api.publish.hook import prune_nav
from api.publish.pages import cell, render_site, summary
from api.publish.values import PackageView
from tests.publish.samples import NOW, rollout, site


def test_every_page_of_the_site_is_generated() -> None:
    pages = render_site(site())
    assert set(pages) == {
        "index.md",
        "announcements/index.md",
        "announcements/older.md",
        "announcements/newest.md",
        "rollouts/index.md",
        "rollouts/upd-1.md",
        "maintenance.md",
        "changelog.md",
        "catalog/index.md",
        "catalog/0-9.md",
        "catalog/l.md",
        "catalog/p.md",
        "maintenance.ics",
    }


def test_announcements_newest_first_and_the_home_page_carries_the_newest() -> None:
    pages = render_site(site())
    listing = pages["announcements/index.md"]
    assert listing.index("Newest news") < listing.index("Older news")
    home = pages["index.md"]
    assert "Read *this*." in home and "[Older news](announcements/older.md)" in home
    assert "about [Update upd-1](../rollouts/upd-1.md)" in pages["announcements/newest.md"]


def test_rollout_page_lists_waves_in_utc_and_the_operators_zone() -> None:
    page = render_site(site())["rollouts/upd-1.md"]
    # 2026-03-27 12:00 UTC is 13:00 CET; two days later Berlin is on summer time (CEST).
    assert "| Fri 2026-03-27 12:00 UTC | Fri 2026-03-27 13:00 CET | pending |" in page
    assert "| Sun 2026-03-29 12:00 UTC | Sun 2026-03-29 14:00 CEST | pending |" in page
    assert "update of 20 % of all machines" in page and "reboot of all VM hosts" in page
    assert "[Newest news](../announcements/newest.md)" in page  # its status updates
    assert "System updates delayed" not in page


def test_a_delayed_rollout_carries_the_delayed_notice() -> None:
    page = render_site(site(rollouts=(rollout(state="delayed"),)))["rollouts/upd-1.md"]
    assert '!!! warning "System updates delayed"' in page


def test_maintenance_splits_upcoming_from_past() -> None:
    done = rollout("upd-0", state="completed", start=NOW - timedelta(days=40))
    page = render_site(site(rollouts=(rollout(), done)))["maintenance.md"]
    upcoming, past = page.split("## Past")
    assert "Update upd-1" in upcoming and "Update upd-0" in past
    assert "| 4 | Thu 2026-04-02 12:00 UTC |" in upcoming  # the host reboots


def test_changelog_names_replacements_and_additions_newest_first() -> None:
    page = render_site(site())["changelog.md"]
    assert "- linux 2.6.39 -&gt; 2.6.38" in page
    assert "- Python 2.7.1 added" in page
    assert page.index("2026-03-27") < page.index("2026-02-25: Package catalog release")


def test_catalog_is_split_by_letter_with_a_section_per_package() -> None:
    pages = render_site(site())
    assert "## linux" in pages["catalog/l.md"] and "`" + "a" * 64 + "`" in pages["catalog/l.md"]
    assert "maintenance \\| release" in pages["catalog/p.md"]  # no column break
    assert "[0-9](0-9.md)" in pages["catalog/index.md"]


def test_public_calendar_has_waves_and_reboots_without_names() -> None:
    cal = icalendar.Calendar.from_ical(render_site(site())["maintenance.ics"])
    events = cal.walk("VEVENT")
    assert len(events) == 5
    summaries = sorted(str(e["SUMMARY"]) for e in events)
    assert "Reboot of 4 VM hosts" in summaries
    assert all(e["DTSTART"].dt.tzinfo is not None for e in events)


def test_release_changes_compare_with_the_previous_day_only() -> None:
    day = NOW - timedelta(days=1)
    changes = release_changes(
        [PackageView("x", "1", "a" * 64, day), PackageView("x", "2", "b" * 64, NOW)]
    )
    assert changes == {day.date(): ["x 1 added"], NOW.date(): ["x 1 -> 2"]}


@given(st.text())
def test_a_cell_never_breaks_a_table_row_or_carries_html(text: str) -> None:
    out = cell(text)
    assert "\n" not in out and "\r" not in out and "<" not in out
    assert "|" not in out.replace("\\|", "")


@given(st.text(max_size=2000))
def test_summary_is_one_bounded_line(text: str) -> None:
    out = summary(text)
    assert "\n" not in out and len(out) <= 300


def test_nav_without_the_manual_drops_empty_sections() -> None:
    nav = [
        {"Home": "index.md"},
        {"Guide": [{"Windows": "scheduling.md"}]},
        {"Operators": [{"Guide": "operators.md"}, {"Config": "configuration.md"}]},
    ]
    pruned = prune_nav(nav, lambda p: p not in layout.MANUAL_PAGES)
    assert pruned == nav[:2]


def test_catalog_letter_is_a_letter_or_digits() -> None:
    assert layout.catalog_letter("Émile") == "e"
    assert layout.catalog_letter("7zip") == "0-9"
    assert layout.catalog_letter("---") == "x"
