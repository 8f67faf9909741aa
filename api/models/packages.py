"""The package catalog: released package versions with their checksums."""

from __future__ import annotations

import re
from typing import Any

from tortoise import fields
from tortoise.models import Model

from api.errors import ValidationError

__all__ = ["PackageRelease"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


class PackageRelease(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    version = fields.CharField(max_length=50)
    sha256 = fields.CharField(max_length=64)
    released_at = fields.DatetimeField()
    summary = fields.TextField(default="")

    class Meta:
        table = "package_release"
        unique_together = (("name", "version"),)
        ordering = ["name", "version"]

    async def save(self, *args: Any, **kwargs: Any) -> None:
        if not _SHA256.fullmatch(self.sha256 or ""):
            raise ValidationError.single("sha256", "must be 64 lower-case hexadecimal digits")
        await super().save(*args, **kwargs)
