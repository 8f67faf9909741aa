"""The public maintenance calendar: rollout waves and host reboots as iCalendar, built with the
``icalendar`` library. Pure.

It names no customer and no machine: a wave says what share of machines it takes, a reboot
slot how many VM hosts restart. Cancelled events stay with STATUS:CANCELLED so subscribed
clients remove them.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from icalendar import Calendar, Event

from api.publish import layout
from api.publish.values import SiteView, wave_label

__all__ = ["WAVE_LENGTH", "build_public_calendar"]

# A wave has a start but no end in the directory; the calendar shows this much of it.
WAVE_LENGTH = timedelta(hours=2)
_STATUS = {"cancelled": "CANCELLED", "delayed": "TENTATIVE"}


def build_public_calendar(site: SiteView) -> bytes:
    host = urlsplit(site.public_url).hostname or "fenster.invalid"
    cal = Calendar()
    cal.add("prodid", "-//fenster//public maintenance calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"{site.title}: maintenance")
    cal.add("x-published-ttl", "PT1H")
    for r in sorted(site.rollouts, key=lambda r: r.name):
        url = f"{site.public_url}/{layout.rollout_path(r.name).removesuffix('.md')}/"
        for w in r.waves:
            ev = Event()
            ev.add("uid", f"rollout-{r.name}-wave-{w.position}@{host}")
            ev.add("dtstamp", site.now)
            ev.add("dtstart", w.starts_at)
            ev.add("dtend", w.starts_at + WAVE_LENGTH)
            ev.add("summary", f"{r.title}: {w.name} ({wave_label(w)})")
            ev.add("description", f"Wave {w.position} of {r.title}: {w.state}.")
            ev.add("status", _STATUS.get(r.state, "CONFIRMED"))
            ev.add("url", url)
            cal.add_component(ev)
    for b in sorted(site.reboots, key=lambda b: b.starts_at):
        ev = Event()
        ev.add("uid", f"host-reboots-{b.starts_at:%Y%m%dT%H%M%SZ}@{host}")
        ev.add("dtstamp", site.now)
        ev.add("dtstart", b.starts_at)
        ev.add("dtend", b.ends_at)
        ev.add("summary", f"Reboot of {b.hosts} VM host{'s' if b.hosts != 1 else ''}")
        ev.add("description", "Every VM on a rebooted host restarts with it.")
        ev.add("status", "CANCELLED" if b.state == "cancelled" else "CONFIRMED")
        cal.add_component(ev)
    return cal.to_ical()
