"""The calendar values the feeds, the mail and the public pages share: one home.

``values`` holds the plain window values (no database, no clock), ``query`` the one query
that reads them, and ``texts`` the way times, durations and activities are written in
words. ``api.feeds`` (iCalendar), ``api.notify`` (mail) and ``api.pages`` (HTML) build on
these and import none of each other's modules for them.
"""
