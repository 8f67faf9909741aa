"""The build step of the notice site: write the pages, run the real ``mkdocs build``, swap the
result in.

``site_dir`` is a symbolic link to the current build under ``<site_dir>.builds/``; a new build
is made beside it and the link is replaced with one ``rename``, so a reader never sees half a
site. A failed build leaves the link (the last good site) alone and records the error in
``<site_dir>.builds/status.json``, which ``fenster site status`` and GraphQL ``siteStatus`` read.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from api.publish import layout

__all__ = [
    "SiteBuildError",
    "SiteStatus",
    "build",
    "public_guide_text",
    "read_status",
    "write_source",
]

ROOT = Path(__file__).resolve().parents[2]
KEEP_BUILDS = 2  # the current build and the one before it (a reader may still be in it)
_OPERATOR_SECTION = re.compile(r"^## For operators\b.*?(?=^## |\Z)", re.M | re.S)


class SiteBuildError(Exception):
    """``mkdocs build`` failed; ``output`` is the end of what it printed."""

    def __init__(self, output: str) -> None:
        super().__init__(output)
        self.output = output


@dataclass(frozen=True)
class SiteStatus:
    """The outcome of the last build, and when the site now served was built."""

    ok: bool
    finished_at: str  # ISO 8601, UTC
    seconds: float
    error: str = ""
    built_at: str = ""  # the last good build
    stamp: str = ""  # the directory stamp the last good build was made from


def public_guide_text(markdown: str) -> str:
    """A customer-guide page for the public site: its '## For operators' sections removed."""
    return _OPERATOR_SECTION.sub("", markdown)


def write_source(pages: dict[str, str | bytes], dest: Path, *, docs: Path, manual: bool) -> None:
    """The MkDocs source tree: the customer guide (and the manual if asked) plus the pages."""
    for src in sorted(docs.rglob("*")):
        rel = src.relative_to(docs).as_posix()
        if not src.is_file() or rel == layout.HOME:
            continue
        if rel not in layout.GUIDE_PAGES and not manual:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in layout.GUIDE_PAGES and not manual:
            target.write_text(public_guide_text(src.read_text()))
        else:
            shutil.copyfile(src, target)
    for rel, content in pages.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


async def run_mkdocs(config: Path, source: Path, out: Path, env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mkdocs",
        "build",
        "--strict",  # no --quiet: it hides the warnings that --strict counts
        "--config-file",
        str(config),
        "--site-dir",
        str(out),
        env={**os.environ, **env, "FENSTER_SITE_SOURCE": str(source), "NO_MKDOCS_2_WARNING": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=str(config.parent),
    )
    output, _ = await proc.communicate()
    if proc.returncode != 0:
        raise SiteBuildError(output.decode(errors="replace")[-4000:])


def _new_build_dir(builds: Path) -> Path:
    out = Path(tempfile.mkdtemp(prefix="build-", dir=builds))
    out.chmod(0o755)  # readable by a web server, as mkdocs' own output would be
    return out


def _builds_dir(site_dir: Path) -> Path:
    return site_dir.parent / f"{site_dir.name}.builds"


def swap_in(new: Path, site_dir: Path) -> None:
    """Point ``site_dir`` at ``new`` with one rename; drop builds older than the last two."""
    builds = _builds_dir(site_dir)
    if site_dir.exists() and not site_dir.is_symlink():  # a plain directory from `make docs`
        site_dir.rename(builds / f"old-{time.time_ns()}")
    link = builds / f".link-{time.time_ns()}"
    link.symlink_to(new.resolve())
    os.replace(link, site_dir)
    done = sorted(
        (p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
    )
    for old in done[:-KEEP_BUILDS]:
        if old.resolve() != new.resolve():
            shutil.rmtree(old, ignore_errors=True)


def read_status(site_dir: Path) -> SiteStatus | None:
    path = _builds_dir(site_dir) / "status.json"
    try:
        return SiteStatus(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_status(site_dir: Path, status: SiteStatus) -> None:
    path = _builds_dir(site_dir) / "status.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(status)))
    os.replace(tmp, path)


async def build(
    pages: dict[str, str | bytes],
    site_dir: Path,
    *,
    env: dict[str, str],
    stamp: str = "",
    manual: bool = False,
    config: Path = ROOT / "mkdocs.yml",
) -> SiteStatus:
    """Build the site from ``pages`` and swap it in; on failure keep the last good site.

    Returns the status written (``ok`` False with the error on failure); never raises for a
    failed ``mkdocs build``.
    """
    # MkDocs runs beside mkdocs.yml: a site dir relative to where fenster runs (the default
    # "site") must reach it as an absolute path
    site_dir = site_dir.absolute()  # noqa: ASYNC240 - os.getcwd(), no I/O
    builds = _builds_dir(site_dir)
    builds.mkdir(parents=True, exist_ok=True)
    with (builds / "lock").open("w") as lock:
        # One build at a time per site (two processes, e.g. replicas or a CLI run beside
        # `fenster serve`): the old-build cleanup must not remove another's build in progress.
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        return await _build_locked(pages, site_dir, builds, env, stamp, manual, config)


async def _build_locked(
    pages: dict[str, str | bytes],
    site_dir: Path,
    builds: Path,
    env: dict[str, str],
    stamp: str,
    manual: bool,
    config: Path,
) -> SiteStatus:
    began = time.monotonic()
    previous = read_status(site_dir)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix=".source-", dir=builds) as source:
        out = _new_build_dir(builds)
        try:
            write_source(pages, Path(source), docs=config.parent / "docs", manual=manual)
            await run_mkdocs(config, Path(source), out, {**env, "FENSTER_SITE_MANUAL": str(manual)})
        except SiteBuildError as exc:
            shutil.rmtree(out, ignore_errors=True)
            status = SiteStatus(
                ok=False,
                finished_at=now,
                seconds=round(time.monotonic() - began, 3),
                error=exc.output,
                built_at=previous.built_at if previous else "",
                stamp=previous.stamp if previous else "",
            )
            _write_status(site_dir, status)
            return status
    swap_in(out, site_dir)
    status = SiteStatus(
        ok=True,
        finished_at=now,
        seconds=round(time.monotonic() - began, 3),
        built_at=now,
        stamp=stamp,
    )
    _write_status(site_dir, status)
    return status
