"""The package catalog: import a release (name, version, sha256, notes) all or nothing.

A checksum that is not 64 hexadecimal characters, a name or version that is empty or too long,
or a name and version already known (in the catalog or earlier in the same import) with
another checksum is refused. Every bad row is reported, by its position, and nothing is written.
A row identical to what the catalog holds is counted as unchanged, so an import can be re-run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from api.errors import FieldError, ValidationError
from api.models import PackageRelease
from api.models.keys import where
from api.services import audit

__all__ = ["ImportResult", "PackageRow", "import_packages"]

MAX_NAME = 100  # the columns' lengths
MAX_VERSION = 50
MAX_NOTES = 2000
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class PackageRow:
    name: str
    version: str
    sha256: str
    notes: str = ""


@dataclass(frozen=True)
class ImportResult:
    added: int
    unchanged: int


def _row_errors(i: int, row: PackageRow) -> list[FieldError]:
    where = f"rows[{i}]"
    errors = []
    if not row.name.strip() or len(row.name) > MAX_NAME or any(c.isspace() for c in row.name):
        errors.append(FieldError(f"{where}.name", f"1-{MAX_NAME} characters without spaces"))
    if (
        not row.version.strip()
        or len(row.version) > MAX_VERSION
        or any(c.isspace() for c in row.version)
    ):
        errors.append(FieldError(f"{where}.version", f"1-{MAX_VERSION} characters without spaces"))
    if not _HEX64.match(row.sha256):
        errors.append(
            FieldError(f"{where}.sha256", f"{row.sha256!r} is not 64 hexadecimal characters")
        )
    if len(row.notes) > MAX_NOTES:
        errors.append(FieldError(f"{where}.notes", f"at most {MAX_NOTES} characters"))
    return errors


def _check_rows(
    rows: Sequence[PackageRow],
) -> tuple[list[FieldError], dict[tuple[str, str], tuple[int, str]]]:
    """Every bad row, and each (name, version) with its first row and checksum."""
    errors: list[FieldError] = []
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    for i, row in enumerate(rows):
        errors += _row_errors(i, row)
        key, digest = (row.name, row.version), row.sha256.lower()
        if key in seen and seen[key][1] != digest:
            errors.append(
                FieldError(
                    f"rows[{i}].sha256",
                    f"{row.name} {row.version} is in row {seen[key][0]} with another checksum",
                )
            )
        seen.setdefault(key, (i, digest))
    return errors, seen


async def import_packages(
    actor: str, rows: Sequence[PackageRow], *, released_at: datetime | None = None
) -> ImportResult:
    """Add the rows to the catalog as one release, or raise ValidationError naming each bad
    row and add nothing."""
    if not rows:
        raise ValidationError.single("rows", "an import needs at least one package")
    errors, seen = _check_rows(rows)
    released_at = released_at or datetime.now(UTC)
    async with in_transaction() as conn:
        known = {
            (n, v): s
            for n, v, s in await where(PackageRelease.all(), name__in=sorted({k[0] for k in seen}))
            .using_db(conn)
            .values_list("name", "version", "sha256")
        }
        new = []
        for key, (i, digest) in seen.items():
            if key in known and known[key] != digest:
                errors.append(
                    FieldError(
                        f"rows[{i}].sha256",
                        f"{key[0]} {key[1]} is in the catalog with another checksum",
                    )
                )
            elif key not in known:
                new.append(
                    PackageRelease(
                        name=key[0],
                        version=key[1],
                        sha256=digest,
                        released_at=released_at,
                        summary=next(r.notes for r in rows if (r.name, r.version) == key),
                    )
                )
        if errors:
            raise ValidationError(errors)
        if new:
            await PackageRelease.bulk_create(new, batch_size=500, using_db=conn)
            first = await PackageRelease.get(
                name=new[0].name, version=new[0].version, using_db=conn
            )
            await audit.record(
                actor,
                "catalog.import",
                first,
                {"added": [f"{p.name} {p.version}" for p in new[:100]], "count": len(new)},
                connection=conn,
            )
    return ImportResult(added=len(new), unchanged=len(seen) - len(new))
