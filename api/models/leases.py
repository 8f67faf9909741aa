"""Leases: which process holds a duty that must run in one place at a time."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

__all__ = ["Lease"]


class Lease(Model):
    """Held by ``holder`` until ``expires_at``; the holder renews it, anyone may take it after."""

    name = fields.CharField(max_length=32, primary_key=True)
    holder = fields.CharField(max_length=100)
    expires_at = fields.DatetimeField()
    acquired_at = fields.DatetimeField()

    class Meta:
        table = "lease"
        table_description = "Who holds each singleton duty (the leader of the background work)."
