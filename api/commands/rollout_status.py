"""`fenster rollout status NAME [--watch] [--interval S]`: every wave's progress, its gate's
verdict, the next event in the operators' zone and the failed machines.

It reads ``api.services.rollout_progress.progress``, the same read as GraphQL's
``Rollout.progress``. ``--watch`` redraws in place (rich Live) on a terminal, and prints the
status plainly once per interval otherwise, until the rollout is completed, halted or cancelled,
or until Ctrl-C (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from api import db
from api.commands import output
from api.commands.scheduling import add_now
from api.scheduling.engine import GateState, NextKind
from api.scheduling.occurrences import zone
from api.services.rollout_progress import RolloutProgress, WaveProgress
from api.settings import Settings

__all__ = ["add_parsers", "bar_widths", "render"]

Reader = Callable[[], Awaitable[tuple[RolloutProgress, RenderableType]]]
BAR = 30  # characters of a wave's bar
SEGMENTS = (("done", "green", "█"), ("running", "yellow", "█"), ("failed", "red", "█"))
VERDICT_STYLE = {
    GateState.PASSED: "green",
    GateState.PASSING: "green",
    GateState.FAILING: "red",
    GateState.FAILED: "bold red",
    GateState.HALTED: "yellow",
}
NEXT_TEXT = {
    NextKind.WAVE_START: "wave {wave} starts",
    NextKind.GATE: "wave {wave} is judged (end of its soak)",
    NextKind.COMPLETE: "the rollout completes",
}


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError("between 0.1 and 3600 seconds")
    return value


def add_parsers(rsub: argparse._SubParsersAction) -> None:
    st = rsub.add_parser(
        "status", help="every wave's progress, its gate's verdict, the next event, failures"
    )
    st.add_argument("name")
    st.add_argument(
        "--watch",
        action="store_true",
        help="redraw until it is completed, halted or cancelled (Ctrl-C stops)",
    )
    st.add_argument(
        "--interval", type=_interval, default=5.0, help="seconds between reads (default 5)"
    )
    add_now(st)
    st.set_defaults(func=status)


def bar_widths(counts: Sequence[int], width: int) -> list[int]:
    """Characters per segment, proportional to ``counts`` and summing to ``width`` (largest
    remainders first); all zero when there is nothing to count."""
    total = sum(counts)
    if total <= 0:
        return [0] * len(counts)
    exact = [c * width / total for c in counts]
    out = [int(x) for x in exact]
    order = sorted(range(len(counts)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in order[: width - sum(out)]:
        out[i] += 1
    return out


def _bar(w: WaveProgress) -> Text:
    t = w.tally
    counts = [t.done + t.skipped, t.running, t.failed, t.pending]
    styles = [(s, ch) for _, s, ch in SEGMENTS] + [("dim", "·")]
    text = Text()
    for n, (style, ch) in zip(bar_widths(counts, BAR), styles, strict=True):
        text.append(ch * n, style=style)
    return text if t.total else Text("no system updates", style="dim")


def _when(instant: datetime, tz: str) -> str:
    return f"{instant.astimezone(zone(tz)):%a %Y-%m-%d %H:%M} ({tz})"


def render(p: RolloutProgress, tz: str, now: datetime) -> RenderableType:
    """The status as rich renderables (plain text without a terminal)."""
    head = Text(f"{p.title} ({p.name}): {p.state}", style="bold")
    table = Table("#", "wave", "starts", "progress", "done", "running", "failed", "pending")
    table.add_column("gate")
    for w in p.waves:
        t = w.tally
        done = f"{t.done}/{t.total}" + (f" (+{t.skipped} skipped)" if t.skipped else "")
        verdict = Text(w.verdict.value.replace("_", " "), style=VERDICT_STYLE.get(w.verdict, ""))
        if w.reason:
            verdict.append(f": {w.reason}")
        table.add_row(
            str(w.position),
            w.name,
            _when(w.starts_at, tz).removesuffix(f" ({tz})"),
            _bar(w),
            done,
            str(t.running),
            str(t.failed),
            str(t.pending),
            verdict,
        )
    parts: list[RenderableType] = [head, table]
    if p.next is not None:
        what = NEXT_TEXT[p.next.kind].format(wave=p.next.wave.name if p.next.wave else "")
        due = " (due now)" if p.next.at <= now else ""
        parts.append(Text(f"next: {what} at {_when(p.next.at, tz)}{due}"))
    else:
        parts.append(Text("next: nothing without an operator"))
    if p.halted_reason:
        parts.append(Text(f"halted: {p.halted_reason}", style="red"))
    if p.failed:
        fails = Table("failed machine", "wave", "exit", "error", title="Failed updates")
        for f in p.failed:
            code = "-" if f.exit_code is None else str(f.exit_code)
            fails.add_row(f.machine, f.wave, code, f.error)
        parts.append(fails)
    return Group(*parts)


async def status(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import rollouts
    from api.services.rollout_progress import progress

    tz = settings.site_timezone
    console = output.console()
    async with db.database(settings):
        r = await rollouts.get_rollout(args.name)

        async def read() -> tuple[RolloutProgress, RenderableType]:
            now = args.now or datetime.now(UTC)
            p = await progress(r, now)
            return p, render(p, tz, now)

        p, shown = await read()
        if not args.watch:
            console.print(shown)
            return 0
        try:
            if console.is_terminal:
                await _live(console, read, p, shown, args.interval)
            else:
                await _plain(console, read, p, shown, args.interval)
        except (asyncio.CancelledError, KeyboardInterrupt):
            pass  # Ctrl-C ends a watch: not an error
    return 0


async def _live(
    console: Console, read: Reader, p: RolloutProgress, shown: RenderableType, interval: float
) -> None:
    with Live(shown, console=console, auto_refresh=False) as live:
        while not p.finished:
            await asyncio.sleep(interval)
            p, shown = await read()
            live.update(shown, refresh=True)


async def _plain(
    console: Console, read: Reader, p: RolloutProgress, shown: RenderableType, interval: float
) -> None:
    console.print(shown)
    sys.stdout.flush()
    while not p.finished:
        await asyncio.sleep(interval)
        p, shown = await read()
        console.print(Text(f"--- {datetime.now(UTC):%H:%M:%S} UTC"))
        console.print(shown)
        sys.stdout.flush()
