"""How an agent's activity log states its outcome in one line, for mail, feeds and pages.

The host agent ends each activity's log with a summary line (``SUMMARY`` then what changed,
old -> new, the restarts, the time it took, and the error on failure); the directory shows
that line as the activity's outcome, or the log's last line when there is none (an older
agent, the guest agent). Plain: the agent imports it without the API's dependencies.
"""

from __future__ import annotations

__all__ = ["MAX_OUTCOME", "SUMMARY", "no_report", "outcome_of", "summary_line"]

SUMMARY = "summary: "
MAX_OUTCOME = 300


def summary_line(parts: list[str]) -> str:
    return SUMMARY + "; ".join(p for p in parts if p)


def no_report(hours: int) -> str:
    """The outcome of guest work the guest agent never reported (failed by the watchdog)."""
    return f"no report from the guest agent within {hours} hours after the window ended"


def outcome_of(log: str | None) -> str:
    """The activity's outcome in one line: its last summary line, else its last line."""
    lines = [line.strip() for line in (log or "").splitlines() if line.strip()]
    summaries = [line for line in lines if line.startswith(SUMMARY)]
    if summaries:
        return summaries[-1][len(SUMMARY) :][:MAX_OUTCOME]
    return lines[-1][:MAX_OUTCOME] if lines else ""
