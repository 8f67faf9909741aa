"""Read calendars the way icalendar 5.x and circuit-maintenance-parser do.

Run by tests/feeds/test_clients.py with the Python of a separate venv (icalendar < 6 and
circuit-maintenance-parser, which pins it), never imported by the project. Reads a JSON list
of calendars (text) on stdin; writes, for each, the instants per UID as UNIX seconds:

    {"icalendar": {uid: [start, end]}, "cmp": {uid: [start, end]} | {"error": "..."}}
"""

import json
import sys

import icalendar
from circuit_maintenance_parser import NotificationData
from circuit_maintenance_parser.provider import GenericProvider


def by_icalendar(text):
    found = {}
    for event in icalendar.Calendar.from_ical(text).walk("VEVENT"):
        found[str(event["UID"])] = [
            event.decoded("DTSTART").timestamp(),
            event.decoded("DTEND").timestamp(),
        ]
    return found


def by_parser(text):
    data = NotificationData.init_from_raw("ical", text.encode())
    if data is None:
        return {"error": "no notification data"}
    try:
        found = GenericProvider().get_maintenances(data)
    except Exception as exc:  # the parser refuses the whole feed: report why
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return {m.maintenance_id: [m.start, m.end] for m in found}


def main():
    out = []
    for text in json.load(sys.stdin):
        out.append(
            {
                "icalendar": by_icalendar(text),
                "cmp": by_parser(text),
                "version": icalendar.__version__,
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
