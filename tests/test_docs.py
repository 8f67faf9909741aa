"""The documentation site builds with the real `mkdocs build --strict`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_site_builds_strict(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    index = (tmp_path / "index.html").read_text()
    assert "fenster" in index
    assert (tmp_path / "architecture" / "index.html").exists()
    assert (tmp_path / "configuration" / "index.html").exists()


def test_every_doc_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")]
    missing = [p for p in pages if p not in nav]
    assert not missing, f"add these pages to the nav in mkdocs.yml: {missing}"


def test_every_doc_page_is_either_customer_guide_or_manual() -> None:
    """A new page is not public by accident: it must be placed in api/publish/layout.py."""
    from api.publish import layout

    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    placed = layout.GUIDE_PAGES | layout.MANUAL_PAGES | {layout.HOME}
    assert pages == placed, f"place these in GUIDE_PAGES or MANUAL_PAGES: {pages ^ placed}"
