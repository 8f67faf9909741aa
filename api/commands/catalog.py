"""`fenster catalog import FILE`: a release of the package catalog from CSV or JSON."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from api import db
from api.errors import FieldError, ValidationError
from api.settings import Settings

__all__ = ["add_parsers", "parse_rows"]

COLUMNS = ("name", "version", "sha256")  # and optionally "notes"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("catalog", help="the package catalog")
    csub = p.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    i = csub.add_parser(
        "import",
        help="add a release: a CSV (header name,version,sha256[,notes]) or a JSON list of "
        "objects with those keys; all rows or none",
    )
    i.add_argument("file", type=Path)
    i.add_argument("--released-at", help="the release's date, ISO 8601 (default: now)")
    i.set_defaults(func=run_import)


def _records(path: Path) -> list[object]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError.single("file", f"cannot read {path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValidationError.single("file", f"not JSON: {exc}") from None
        if not isinstance(data, list):
            raise ValidationError.single("file", "a JSON catalog is a list of objects")
        return data
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError.single("file", f"the CSV header lacks {', '.join(missing)}")
    return list(reader)


def parse_rows(path: Path) -> list:
    """The file's rows as PackageRow values; every malformed row is reported at once."""
    from api.services.catalog import PackageRow

    rows, errors = [], []
    for i, record in enumerate(_records(path)):
        values = record if isinstance(record, dict) else {}
        bad = [c for c in COLUMNS if not isinstance(values.get(c), str)]
        notes = values.get("notes") or ""
        if bad or not isinstance(notes, str):
            errors.append(FieldError(f"rows[{i}]", f"needs text for {', '.join(bad or ['notes'])}"))
            continue
        rows.append(PackageRow(values["name"], values["version"], values["sha256"], notes))
    if errors:
        raise ValidationError(errors)
    return rows


async def run_import(args: argparse.Namespace, settings: Settings) -> int:
    from api.services.catalog import import_packages

    released_at = None
    if args.released_at:
        try:
            released_at = datetime.fromisoformat(args.released_at)
        except ValueError:
            raise ValidationError.single("released-at", "use ISO 8601, e.g. 2011-08-22") from None
        if released_at.tzinfo is None:
            released_at = released_at.replace(tzinfo=UTC)
    rows = parse_rows(args.file)
    async with db.database(settings):
        result = await import_packages("cli", rows, released_at=released_at)
    print(f"catalog: {result.added} added, {result.unchanged} unchanged")
    return 0
