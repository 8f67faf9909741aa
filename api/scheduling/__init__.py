"""Pure window math and planning over plain values: no database, no clock.

The public face: Policy and Occurrence (a group's daily window and its real instants),
``occurrences`` (lazy, per policy), ``needed_minutes`` (fit), ``plan`` (the planner) and the
checks of the manual operations.
"""

from api.scheduling.fit import Freeze, Work, first_freeze, needed_minutes
from api.scheduling.manual import (
    Reach,
    check_postpone,
    check_start,
    containing,
    postpone_deadline,
    reach,
)
from api.scheduling.occurrences import Occurrence, Policy, occurrence, occurrences, zone
from api.scheduling.planner import (
    ActivityIn,
    Blocked,
    ExtendedWindow,
    FreezeIn,
    GroupIn,
    HostIn,
    MachineIn,
    NewWindow,
    Plan,
    PlanInput,
    WindowIn,
    dst_note,
    plan,
)
from api.scheduling.slots import SlotFinder

__all__ = [
    "ActivityIn",
    "Blocked",
    "ExtendedWindow",
    "Freeze",
    "FreezeIn",
    "GroupIn",
    "HostIn",
    "MachineIn",
    "NewWindow",
    "Occurrence",
    "Plan",
    "PlanInput",
    "Policy",
    "Reach",
    "SlotFinder",
    "WindowIn",
    "Work",
    "check_postpone",
    "check_start",
    "containing",
    "dst_note",
    "first_freeze",
    "needed_minutes",
    "occurrence",
    "occurrences",
    "plan",
    "postpone_deadline",
    "reach",
    "zone",
]
