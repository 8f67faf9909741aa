"""The agents' JSON files in their state directory (the host agent's window journal, the
guest agent's update journal and hook answer): one object a file, written atomically and
read back typed.

Every write goes to a temporary file that is fsynced and then renamed over the file, and the
directory is fsynced, so a crash leaves either the old or the new content, never half of it.
A file that cannot be read back (half-written by hand, another version, a missing field) is
a ``ConfigError`` that names it; it is left where it is for an operator to inspect.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from agents.errors import ConfigError

__all__ = ["JsonFile", "remove_durably", "write_atomic"]

T = TypeVar("T")


class JsonFile(Generic[T]):
    """One ``T`` kept as a JSON object in ``path``: ``dump`` turns it into the object,
    ``parse`` back (raising ``ValueError``, ``KeyError``, ``TypeError`` or ``AttributeError``
    on what it cannot take). With a ``version`` the object carries it, and a file of
    another version is not read."""

    def __init__(
        self,
        path: Path,
        parse: Callable[[dict[str, Any]], T],
        dump: Callable[[T], dict[str, Any]],
        version: int | None = None,
    ) -> None:
        self.path = path
        self._parse = parse
        self._dump = dump
        self._version = version

    def load(self) -> T | None:
        """The value in the file, or None when there is no file."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise TypeError(f"a JSON object expected, not {type(data).__name__}")
            if self._version is not None and data.get("version") != self._version:
                raise ValueError(f"version {data.get('version')!r} is not {self._version}")
            return self._parse(data)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"{self.path} is damaged ({e}); inspect and remove it") from e

    def save(self, value: T, durable: bool = True) -> None:
        """Replace the file atomically. ``durable=False`` skips the fsyncs: the new content
        survives the agent's death (SIGKILL, OOM), not a power loss."""
        data = self._dump(value)
        if self._version is not None:
            data = {"version": self._version, **data}
        write_atomic(self.path, json.dumps(data, sort_keys=True).encode(), durable)

    def clear(self) -> None:
        remove_durably(self.path)


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace ``path`` with ``data``: a temporary file, fsynced (``durable``), renamed over
    it, the directory fsynced; a crash leaves the old content or the new, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:  # a write may take less than all of it
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()  # the old content stays, and no temporary file beside it
        raise
    if durable:
        _sync_dir(path)


def remove_durably(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        _sync_dir(path)


def _sync_dir(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
