"""One instance per exchange account, enforced by an exclusive lock on a file in the data directory.

The lock is an ``fcntl`` lock, so the kernel releases it when the process dies, even by SIGKILL: a crashed
bot never leaves a stale lock behind. The file name is derived from the exchange and a hash of the account's
API key (never the key itself).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from types import TracebackType


class InstanceLockedError(RuntimeError):
    """Another process already trades this account."""


def account_lock_name(exchange: str, api_key: str | None) -> str:
    account = hashlib.sha256((api_key or "no-key").encode()).hexdigest()[:12]
    return f"{exchange}-{account}.lock"


class InstanceLock:
    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / name
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise InstanceLockedError(
                f"another tradewarden instance (pid {holder}) already trades this account (lock {self.path}); "
                "stop it first: one instance per exchange account"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
