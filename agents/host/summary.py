"""The last line of each activity's log: what changed (old -> new), how often the guest
was started, how long the window took, and the error on failure (api.outcomes reads it for
the outcome mail)."""

from __future__ import annotations

from agents.host.steps import StepLog
from api.outcomes import summary_line

__all__ = ["summarize"]


def summarize(outcome: str, out: StepLog, final: StepLog | None, took: float) -> str:
    """``out``: the activity's own steps; ``final``: the window's last step (shared by the
    window's activities; None for a host's window, whose steps are all in ``out``)."""
    lines = [*out.lines, *(final.lines if final else [])]
    parts = []
    if outcome == "failed":
        error = next((line for line in lines if line.startswith(("error: ", "gave up: "))), "")
        parts.append(error.removeprefix("error: ") or "failed")  # the mail says FAILED
    parts.extend(out.changes)
    if any(line.startswith("rollback: ") for line in lines):
        parts.append("rolled back to the definition that last booted")
    parts.extend(line.split(":", 1)[0] for line in lines if line.startswith("GUEST DOWN: "))
    starts = out.starts + (final.starts if final else 0)
    parts.append(f"{starts} start{'s' if starts != 1 else ''}")
    parts.append(f"{took:.0f} s")
    return summary_line(parts)
