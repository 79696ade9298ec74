"""Noticing that a parameter file really changed, so a running bot reloads it once per edit.

The decision is made on the file's content (a SHA-256 of its bytes), never on its modification time alone:
``touch`` or an editor saving identical bytes is not a change. A file caught half-written must not be
reported either, so a new content is reported only once it is *stable*: the same hash seen in two
consecutive polls. A file replaced by an atomic rename (a new inode whose content differs) is complete by
construction and is reported at once.

The watcher is polled (by the scheduler), not driven by inotify: it works the same on every file system,
including the bind mounts and network volumes a container sees.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """What one poll saw: the content hash and the inode (``None`` for both when the file is missing)."""

    digest: str | None
    inode: int | None


def snapshot(path: Path) -> Snapshot:
    """Hash the file's bytes. A missing or unreadable file gives an empty snapshot (logged, not raised):
    editors delete and recreate files, and a reload must never kill the bot."""
    try:
        with path.open("rb") as fh:
            inode = os.fstat(fh.fileno()).st_ino
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return Snapshot(None, None)
    except OSError as exc:
        log.warning("parameter file %s cannot be read: %s", path, exc.strerror or exc)
        return Snapshot(None, None)
    return Snapshot(digest, inode)


class FileWatcher:
    """Calls ``on_change(path)`` once for each real change of the file's content.

    The content at construction is the baseline (the session loaded its parameters from it at boot), so a
    change made between construction and the first poll is still reported.
    """

    def __init__(self, path: Path, on_change: Callable[[Path], None]) -> None:
        self.path = path
        self.on_change = on_change
        first = snapshot(path)
        self._reported = first  # the content the bot is running with
        self._candidate: Snapshot | None = None  # a new content seen once, waiting to be seen stable
        self._last_inode = first.inode

    def poll(self) -> bool:
        """Look at the file once; return True when ``on_change`` was called."""
        now = snapshot(self.path)
        renamed = now.inode is not None and self._last_inode is not None and now.inode != self._last_inode
        if now.inode is not None:
            self._last_inode = now.inode
        if now.digest is None or now.digest == self._reported.digest:
            # missing (mid-replace, or deleted: the bot keeps its parameters) or back to what we run with
            self._candidate = None
            return False
        stable = self._candidate is not None and self._candidate.digest == now.digest
        if not (stable or renamed):
            self._candidate = now
            return False
        self._candidate = None
        self._reported = now
        self.on_change(self.path)
        return True
