"""Where the `fenster` commands that draw tables print: one rich console for all of them."""

from __future__ import annotations

import os

from rich.console import Console

__all__ = ["PIPE_WIDTH", "console"]

PIPE_WIDTH = 1000  # a line's characters in a pipe or file: wide enough that no name is cut


def console() -> Console:
    """A terminal's own width; in a pipe or a file, $COLUMNS when it is set, else
    ``PIPE_WIDTH`` (rich would take 80 and cut machine and wave names). Tables are drawn as
    wide as their widest cell, never padded to the width."""
    shown = Console()
    if shown.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return shown
    return Console(width=PIPE_WIDTH)
