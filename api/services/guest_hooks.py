"""Enter and leave hooks: the host agent asks a VM's guest agent before it stops the guest for
a window, and tells it once the guest is back; the guest agent runs its hooks and answers.

A guest agent *runs* on a VM when it reported (an update, its facts, a hook's answer) within
``Settings.guest_live_seconds``. Without one, :func:`ask` answers ``None`` and stores nothing:
the window runs as it always did. Once asked, a window's hook stays asked (a restarted host
agent finds it again), and a guest agent's answer is taken once per ask.

The host agent polls by asking again: an answer of "not yet" is asked again (``asks`` + 1) by
the call that sees it (which answers that "not yet"), an unanswered request is left as it
is. A window that moved since (postponed) is asked afresh. Locks are taken window first, then
the hook row (a postpone: the scheduler's pass lock before both, as the scheduler takes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from api.errors import NotFound, ValidationError
from api.models import GuestHook, HookPhase, HookVerdict, Machine, Window
from api.principal import Principal, Role
from api.rules import Collector
from api.services import audit, postponing
from api.services.agents import own_window
from api.services.guests import MAX_LOG, GuestFacts, check_facts, observe
from api.services.scheduling import lock
from api.settings import Settings, get_settings

__all__ = ["HookAnswer", "HookReply", "answer", "ask", "waiting"]

OPEN = ("planned", "running")
# a leave request nobody answered is dropped this long after it was asked: leave hooks are
# for the minutes after a window, not for a guest agent that comes back days later
LEAVE_EXPIRES = timedelta(hours=24)


class HookReply(StrEnum):
    """What the guest agent's hooks said (exit 0, 75, 69)."""

    GO = "go"
    NOT_YET = "not_yet"
    POSTPONE = "postpone"


@dataclass(frozen=True, slots=True)
class HookAnswer:
    reply: HookReply
    reason: str = ""
    facts: GuestFacts = field(default_factory=GuestFacts)


async def _live(machine: Machine, now: datetime, settings: Settings) -> bool:
    seen = machine.guest_reported_at
    since = now - timedelta(seconds=settings.guest_live_seconds)
    return machine.kind == "vm" and seen is not None and seen >= since


async def ask(
    actor: str,
    host_id: int,
    uid: str,
    phase: HookPhase,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> GuestHook | None:
    """The host agent asks (again) for ``phase`` of its window ``uid``: the request as it
    stands, or None when the VM has no guest agent running (nothing is stored)."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        window = await own_window(host_id, uid, conn)
        hooks = GuestHook.filter(window_id=window.id).select_for_update().using_db(conn)
        mine = {h.phase: h for h in await hooks}
        hook = mine.get(phase.value)
        if hook is None:
            machine = await Machine.get(id=window.machine_id, using_db=conn)
            if HookPhase.ENTER.value not in mine and not await _live(machine, now, settings):
                return None
            hook = GuestHook(window_id=window.id, phase=phase.value, asked_at=now)
        elif hook.verdict == HookVerdict.POSTPONED and window.starts_at > now:
            hook.window = window
            return hook  # moved, not due again yet
        elif hook.sequence != window.sequence or hook.verdict == HookVerdict.POSTPONED:
            hook.asks = 1  # it moved since, and is due again: a new appointment
        elif hook.verdict == HookVerdict.NOT_YET:
            hook.asks += 1
        else:
            hook.window = window
            return hook  # asked and not answered yet, or answered: as it stands
        said = (hook.verdict, hook.reason) if hook.verdict == HookVerdict.NOT_YET else None
        hook.sequence = window.sequence
        hook.verdict, hook.reason, hook.kernel = HookVerdict.ASKED.value, "", None
        hook.asked_at, hook.answered_at = now, None
        await hook.save(using_db=conn)
        await audit.record(
            actor, "guest_hook.ask", window, {"phase": phase.value, "asks": hook.asks}, conn
        )
    if said is not None:  # the caller sees the "not yet" it asks again after (not saved)
        hook.verdict, hook.reason = said
    hook.window = window
    return hook


async def waiting(machine_id: int, now: datetime | None = None) -> list[GuestHook]:
    """The hook requests ``machine_id``'s guest agent has not answered yet, oldest first:
    enter requests while their window is open, leave requests for LEAVE_EXPIRES."""
    fresh = (now or datetime.now(UTC)) - LEAVE_EXPIRES
    return (
        await GuestHook.filter(
            Q(phase=HookPhase.LEAVE.value, asked_at__gte=fresh) | Q(window__state__in=OPEN),
            verdict=HookVerdict.ASKED.value,
            window__machine_id=machine_id,
        )
        .select_related("window")
        .order_by("asked_at", "id")
    )


def _check(phase: HookPhase, reply: HookAnswer) -> None:
    c = Collector()
    if len(reply.reason) > MAX_LOG:
        c.add("reason", f"send at most the last {MAX_LOG} characters")
    if phase is HookPhase.LEAVE and reply.reply is HookReply.POSTPONE:
        c.add("reply", "leave hooks run after the window: there is nothing to postpone")
    check_facts(c, reply.facts)
    c.raise_if_any()


async def answer(
    actor: str,
    machine_id: int,
    uid: str,
    phase: HookPhase,
    asks: int,
    reply: HookAnswer,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> GuestHook:
    """The guest agent's answer to ask number ``asks``. The same answer again changes nothing;
    another answer to an answered ask, or an answer to an earlier ask, is refused. POSTPONE
    moves the window within the group's rules (as its customer would); when it cannot move
    (no postpone left, past the deadline, a host reboot's window), the window goes ahead and
    the reason says why."""
    _check(phase, reply)
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        if reply.reply is HookReply.POSTPONE:
            await lock(conn)
        window = await _window(machine_id, uid, conn)
        hook = await _hook(window, phase, conn)
        if hook.asks != asks:
            raise ValidationError.single("asks", f"the host agent asked again (ask {hook.asks})")
        if hook.verdict != HookVerdict.ASKED:
            if _same(hook, reply):
                return hook
            raise ValidationError.single("hook", f"was answered already ({hook.verdict})")
        verdict, note = await _verdict(actor, window, reply, now, settings)
        hook.verdict, hook.reason = verdict.value, "; ".join(p for p in (reply.reason, note) if p)
        hook.kernel, hook.answered_at = reply.facts.kernel, now
        await hook.save(using_db=conn)
        await observe(actor, machine_id, reply.facts, now, conn)
        details = {"phase": phase.value, "asks": asks, "reply": reply.reply.value}
        details["verdict"] = verdict.value
        await audit.record(actor, "guest_hook.answer", window, details, conn)
    return hook


def _same(hook: GuestHook, reply: HookAnswer) -> bool:
    """Whether ``reply`` is the answer ``hook`` already has (a refused postpone went ahead)."""
    replies = {
        HookVerdict.GO: (HookReply.GO, HookReply.POSTPONE),
        HookVerdict.NOT_YET: (HookReply.NOT_YET,),
        HookVerdict.POSTPONED: (HookReply.POSTPONE,),
    }
    return reply.reply in replies.get(HookVerdict(hook.verdict), ())


async def _verdict(
    actor: str, window: Window, reply: HookAnswer, now: datetime, settings: Settings
) -> tuple[HookVerdict, str]:
    if reply.reply is HookReply.GO:
        return HookVerdict.GO, ""
    if reply.reply is HookReply.NOT_YET:
        return HookVerdict.NOT_YET, ""
    try:
        # the guest's own answer: counted and bounded as a customer's postpone
        guest = Principal(Role.GUEST, actor)
        moved = await postponing.postpone(guest, window, now=now, settings=settings)
    except ValidationError as e:
        why = "; ".join(f.message for f in e.errors)
        return HookVerdict.GO, f"asked to postpone, but the window cannot move ({why}): going ahead"
    return HookVerdict.POSTPONED, f"postponed to {moved.starts_at.isoformat()}"


async def _window(machine_id: int, uid: str, conn: BaseDBAsyncClient) -> Window:
    window = (
        await Window.filter(uid=uid, machine_id=machine_id)
        .select_for_update()
        .using_db(conn)
        .first()
    )
    if window is None:
        raise NotFound("window", uid)
    return window


async def _hook(window: Window, phase: HookPhase, conn: BaseDBAsyncClient) -> GuestHook:
    hook = (
        await GuestHook.filter(window_id=window.id, phase=phase.value)
        .select_for_update()
        .using_db(conn)
        .first()
    )
    if hook is None:
        raise NotFound("guest hook", f"{window.uid} {phase.value}")
    hook.window = window
    return hook
