"""Files and directories the bot creates, readable by their owner only whatever the process umask.

Run directories, the data directory, the state database, logs, the audit trail, events and recordings hold
positions, balances and strategy parameters. A umask of 022 (the usual default) would leave them readable by
every local user, so their modes are set explicitly: directories 0700, files 0600. A file that already
exists is tightened when it is opened again (a trail continued from an older version included).
"""

from __future__ import annotations

import os
from contextlib import suppress
from io import TextIOWrapper
from pathlib import Path
from typing import IO, Literal, overload

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class UnwritablePathError(RuntimeError):
    """A directory or file the bot must write cannot be written; the message names it and the problem."""


def _problem(exc: OSError) -> str:
    return exc.strerror or str(exc)


def private_dir(path: Path, what: str = "run directory") -> Path:
    """Create ``path`` and its missing parents with mode 0700 and check it can be written.

    Directories that already exist keep their mode (``--out`` may name a shared directory such as ``/tmp``;
    the files inside are 0600 anyway). Raises :class:`UnwritablePathError` naming
    ``what`` and the path (a parent that is a file, no permission, a read-only file system).
    """
    path = Path(path)
    try:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(parents=True, exist_ok=True)
        for created in missing:
            os.chmod(created, PRIVATE_DIR)  # mkdir's mode is filtered by the umask; chmod is not
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied", str(path))
    except OSError as exc:
        raise UnwritablePathError(f"cannot write the {what} {path}: {_problem(exc)}") from None
    return path


def make_private(path: Path) -> None:
    """Set an existing file to 0600 (nothing when it does not exist or belongs to someone else)."""
    with suppress(FileNotFoundError, PermissionError):
        os.chmod(path, PRIVATE_FILE)


@overload
def open_private(path: Path, append: bool = ..., *, text: Literal[False] = ...) -> IO[bytes]: ...
@overload
def open_private(path: Path, append: bool = ..., *, text: Literal[True]) -> TextIOWrapper: ...
def open_private(path: Path, append: bool = True, *, text: bool = False) -> IO[bytes] | TextIOWrapper:
    """Open ``path`` for writing (appending, or truncated), created with mode 0600, or tightened to it."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        with suppress(PermissionError):  # a file someone else owns is not ours to change
            os.fchmod(fd, PRIVATE_FILE)
        if text:
            return os.fdopen(fd, "a" if append else "w", encoding="utf-8")
        return os.fdopen(fd, "ab" if append else "wb")
    except BaseException:
        os.close(fd)
        raise


def write_private(path: Path, data: bytes | str) -> None:
    """Replace ``path``'s content with ``data`` (text as UTF-8), the file at mode 0600."""
    with open_private(path, append=False) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
