"""Tortoise models, one module per aggregate. Import models from here."""

from api.models.activities import Activity
from api.models.announcements import Announcement
from api.models.audit import AuditEvent
from api.models.groups import Freeze, ResourceGroup
from api.models.hooks import GuestHook, HookPhase, HookVerdict
from api.models.leases import Lease
from api.models.machines import Machine
from api.models.notifications import NOTIFICATION_KINDS, Notification
from api.models.packages import PackageRelease
from api.models.rollouts import WAVE_SELECTORS, Rollout, RolloutMember, Wave
from api.models.tokens import ROLES, ApiToken
from api.models.windows import Window

__all__ = [
    "NOTIFICATION_KINDS",
    "ROLES",
    "WAVE_SELECTORS",
    "Activity",
    "Announcement",
    "ApiToken",
    "AuditEvent",
    "Freeze",
    "GuestHook",
    "HookPhase",
    "HookVerdict",
    "Lease",
    "Machine",
    "Notification",
    "PackageRelease",
    "ResourceGroup",
    "Rollout",
    "RolloutMember",
    "Wave",
    "Window",
]
