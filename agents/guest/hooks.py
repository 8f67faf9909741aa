"""Enter and leave hooks, the guest agent's side: run a phase's hooks and say what they said.

The hooks of a phase are the executable files in ``<hooks dir>/<phase>.d/`` (names starting
with a dot are skipped), run one after another in name order, each with the timeout, with
``FENSTER_WINDOW`` and ``FENSTER_HOOK_PHASE`` in their environment. The first that does not
exit 0 decides, and its name and output tail are the reason:

- all exit 0 (or there are none): go;
- 75 (EX_TEMPFAIL): not yet, ask again later;
- 69 (EX_UNAVAILABLE): postpone the window (enter hooks only; for leave hooks: not yet);
- any other exit code, or past the timeout: not yet.

An answer is journaled before it is sent, so an agent killed between the two sends the same
answer after its restart instead of running the hooks again.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents.guest import command
from agents.jsonfile import JsonFile

__all__ = ["EX_TEMPFAIL", "EX_UNAVAILABLE", "Answer", "AnswerJournal", "run_hooks"]

EX_TEMPFAIL = 75
EX_UNAVAILABLE = 69


@dataclass(frozen=True)
class Answer:
    """One ask's answer: which ask, and what the hooks said (go | not_yet | postpone)."""

    window: str
    phase: str
    asks: int
    reply: str
    reason: str = ""


def executables(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    found = (p for p in directory.iterdir() if not p.name.startswith("."))
    return sorted(p for p in found if p.is_file() and os.access(p, os.X_OK))


def run_hooks(
    hooks_dir: Path, phase: str, window: str, timeout: float, log_path: Path
) -> tuple[str, str]:
    """Run ``phase``'s hooks: (reply, reason)."""
    env = {"FENSTER_WINDOW": window, "FENSTER_HOOK_PHASE": phase}
    for hook in executables(hooks_dir / f"{phase}.d"):
        out = command.run(shlex.quote(str(hook)), timeout, log_path, env)
        if out.exit_code == 0:
            continue
        if out.exit_code == EX_UNAVAILABLE and phase == "enter":
            reply, said = "postpone", f"exit {EX_UNAVAILABLE}: postpone"
        elif out.exit_code == EX_TEMPFAIL:
            reply, said = "not_yet", f"exit {EX_TEMPFAIL}: not yet"
        else:
            code = "timed out" if out.exit_code is None else f"exit {out.exit_code}"
            reply, said = "not_yet", f"{code}: counted as not yet"
        head = f"{phase} hook {hook.name}: {said}\n"
        return reply, head + out.log[-(command.MAX_LOG - len(head)) :]
    return "go", ""


class AnswerJournal(JsonFile[Answer]):
    """The answer being sent (``guest-hook.json`` in the state directory)."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir / "guest-hook.json", _answer, asdict)


def _answer(data: dict[str, Any]) -> Answer:
    return Answer(
        str(data["window"]),
        str(data["phase"]),
        int(data["asks"]),
        str(data["reply"]),
        str(data.get("reason", "")),
    )
