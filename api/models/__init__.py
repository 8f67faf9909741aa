"""Tortoise models, one module per aggregate. Import models from here."""

from api.models.activities import Activity
from api.models.announcements import Announcement
from api.models.audit import AuditEvent
from api.models.groups import Freeze, ResourceGroup
from api.models.machines import Machine
from api.models.notifications import NOTIFICATION_KINDS, Notification
from api.models.packages import PackageRelease
from api.models.rollouts import Rollout, Wave
from api.models.tokens import ROLES, ApiToken
from api.models.windows import Window

__all__ = [
    "NOTIFICATION_KINDS",
    "ROLES",
    "Activity",
    "Announcement",
    "ApiToken",
    "AuditEvent",
    "Freeze",
    "Machine",
    "Notification",
    "PackageRelease",
    "ResourceGroup",
    "Rollout",
    "Wave",
    "Window",
]
