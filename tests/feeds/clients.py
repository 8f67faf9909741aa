"""Independent calendar readers, each reduced to what a client shows: UID -> (start, end) in UTC.

icalendar 7, vobject (dateutil's VTIMEZONE reader), Home Assistant's ``ical``, khal's import
path (split the file per UID, store it in khal's own cache database, read the instants khal
stored), and, in a separate venv run as a subprocess, icalendar 5.x and
circuit-maintenance-parser (which pins icalendar < 6).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest
import pytz

from tests.feeds.samples import read_vobject

__all__ = ["READERS", "Instants", "LegacyReader", "legacy_reader"]

Instants = dict[str, tuple[datetime, datetime]]
ROOT = Path(__file__).resolve().parents[2]
LEGACY_VENV = ROOT / ".venv-ics5"
LEGACY_PACKAGES = ["icalendar>=5,<6", "circuit-maintenance-parser>=2.6"]


def _utc(value: datetime) -> datetime:
    assert value.tzinfo is not None, f"floating time {value!r}"
    return value.astimezone(UTC)


def by_icalendar(data: bytes) -> Instants:
    return {
        str(e["UID"]): (_utc(e.decoded("DTSTART")), _utc(e.decoded("DTEND")))
        for e in icalendar.Calendar.from_ical(data).walk("VEVENT")
    }


def by_vobject(data: bytes) -> Instants:
    cal = read_vobject(data)
    return {
        e.uid.value: (_utc(e.dtstart.value), _utc(e.dtend.value))
        for e in cal.contents.get("vevent", [])
    }


def by_ical(data: bytes) -> Instants:
    pytest.importorskip("ical", reason="Home Assistant's ical is not installed (the dev extra)")
    from ical.calendar_stream import IcsCalendarStream

    cal = IcsCalendarStream.calendar_from_ics(data.decode())
    return {e.uid: (_utc(e.dtstart), _utc(e.dtend)) for e in cal.events}  # type: ignore[arg-type]


def by_khal(data: bytes) -> Instants:
    """What `khal import` stores: split_ics, then the backend's update into its cache."""
    pytest.importorskip("khal", reason="khal is not installed (the dev extra installs it)")
    from khal.icalendar import split_ics
    from khal.khalendar.backend import SQLiteDb

    zone = pytz.timezone("UTC")
    locale = {
        "local_timezone": zone,
        "default_timezone": zone,
        "timeformat": "%H:%M",
        "dateformat": "%Y-%m-%d",
        "longdateformat": "%Y-%m-%d",
        "datetimeformat": "%Y-%m-%d %H:%M",
        "longdatetimeformat": "%Y-%m-%d %H:%M",
        "weeknumbers": False,
        "firstweekday": 0,
        "unicode_symbols": True,
    }
    with tempfile.TemporaryDirectory() as tmp:
        db = SQLiteDb(["feed"], str(Path(tmp) / "khal.db"), locale=locale)  # type: ignore[arg-type]
        with db.at_once():  # one commit, as khal's own sync does
            for n, piece in enumerate(split_ics(data.decode(), default_timezone=zone)):
                db.update(piece, href=f"{n}.ics", etag="1", calendar="feed")
        rows = db.sql_ex(
            "SELECT e.item, r.dtstart, r.dtend FROM recs_loc r JOIN events e "
            "ON e.href = r.href AND e.calendar = r.calendar",
            (),
        )
        db.conn.close()
    found: Instants = {}
    for item, start, end in rows:
        [event] = icalendar.Calendar.from_ical(item).walk("VEVENT")
        found[str(event["UID"])] = (
            datetime.fromtimestamp(start, UTC),
            datetime.fromtimestamp(end, UTC),
        )
    return found


READERS: dict[str, Callable[[bytes], Instants]] = {
    "icalendar 7": by_icalendar,
    "vobject": by_vobject,
    "ical (Home Assistant)": by_ical,
    "khal import": by_khal,
}


class LegacyReader:
    """icalendar 5.x and circuit-maintenance-parser in their own venv, as a subprocess."""

    def __init__(self, python: Path) -> None:
        self.python = python

    def read(self, calendars: list[bytes]) -> list[dict[str, object]]:
        done = subprocess.run(
            [str(self.python), str(Path(__file__).with_name("legacy_reader.py"))],
            input=json.dumps([c.decode() for c in calendars]),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return json.loads(done.stdout)


def legacy_reader() -> LegacyReader | str:
    """The reader, building its venv on first use (cached in .venv-ics5/, ignored by git), or
    the reason it cannot be built."""
    python = LEGACY_VENV / "bin" / "python"
    ready = LEGACY_VENV / ".ready"
    wanted = " ".join(LEGACY_PACKAGES) + "\n"
    if not ready.exists() or ready.read_text() != wanted:
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", str(LEGACY_VENV)],
                check=True,
                capture_output=True,
                timeout=300,
            )
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *LEGACY_PACKAGES],
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or ""
            return f"cannot build {LEGACY_VENV.name} ({' '.join(LEGACY_PACKAGES)}): {exc} {detail}"
        ready.write_text(wanted)
    return LegacyReader(python)
