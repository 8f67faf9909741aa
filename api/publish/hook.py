"""The MkDocs hook of mkdocs.yml: picks the nav for the kind of build. Thin on purpose.

- ``mkdocs build`` over ``docs/`` (``make docs``): fenster's manual and the customer guide; the
  generated pages are not there, so their nav entries go.
- ``fenster site build`` (FENSTER_SITE_SOURCE set): the public notice site, the generated pages
  and the customer guide; fenster's own manual only when FENSTER_SITE_MANUAL is true.
"""

from __future__ import annotations

import os
from typing import Any

from api.publish import layout

__all__ = ["on_config", "prune_nav"]


def prune_nav(nav: list[Any], keep: Any) -> list[Any]:
    """The nav without the pages ``keep(path)`` refuses, and without sections left empty."""
    out: list[Any] = []
    for item in nav:
        if isinstance(item, dict):
            (title, value), *_ = item.items()
            if isinstance(value, list):
                inner = prune_nav(value, keep)
                if inner:
                    out.append({title: inner})
            elif keep(value):
                out.append(item)
        elif isinstance(item, str) and keep(item):
            out.append(item)
    return out


def on_config(config: Any) -> Any:
    public = bool(os.environ.get("FENSTER_SITE_SOURCE"))
    manual = os.environ.get("FENSTER_SITE_MANUAL", "").lower() in {"1", "true", "yes", "on"}
    if not public:
        config.nav = prune_nav(config.nav, lambda p: p not in layout.GENERATED_NAV)
    elif not manual:
        config.nav = prune_nav(config.nav, lambda p: p not in layout.MANUAL_PAGES)
    return config
