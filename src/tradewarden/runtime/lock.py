"""One instance per exchange account on this machine: an exclusive lock on a file in one machine-wide place.

The place is the same for every data directory and every user, so two bots with the same API key but
different ``TRADEWARDEN_DATA_DIR`` still meet: ``$TRADEWARDEN_LOCK_DIR`` when set (tests isolate themselves
with it), else ``/run/lock/tradewarden``, ``/var/lock/tradewarden``, else ``<tempdir>/tradewarden-locks``
(created world-writable with the sticky bit, like ``/tmp``). The file is named after the exchange and a hash
of exchange id and API key (never the key itself), is readable by its owner only, and records the holder
(host, pid, since, run) for the refusal message of a second instance.

The lock is an ``fcntl`` lock, so the kernel releases it when the process dies, even by SIGKILL: a crashed
bot never leaves a stale lock behind. Across machines sharing a PostgreSQL database the account is guarded by
the lease in the database as well (:mod:`tradewarden.persistence.lease`).

A session without an API key trades no exchange account, only its data directory's state: it locks that
directory (``<data dir>/locks``), so paper sessions on different data directories run side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from tradewarden.private_files import private_dir

LOCK_DIR_ENV = "TRADEWARDEN_LOCK_DIR"
#: the system's lock directories, in order of preference (both are world-writable tmpfs on most Linuxes)
SYSTEM_LOCK_DIRS = (Path("/run/lock"), Path("/var/lock"))
_SHARED_MODE = 0o1777  # every user may create a lock file, only its owner may remove it


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds an account: enough for an operator to find and stop it."""

    host: str
    pid: int
    since: str   # ISO 8601, UTC
    bot: str = ""  # the holder's run (its run directory's name)

    def describe(self) -> str:
        run = f", run {self.bot}" if self.bot else ""
        return f"pid {self.pid} on {self.host} since {self.since}{run}"

    def fields(self) -> dict[str, str | int]:
        return asdict(self)

    @classmethod
    def me(cls, bot: str = "") -> Holder:
        return cls(socket.gethostname(), os.getpid(), datetime.now(UTC).isoformat(timespec="seconds"), bot)


class InstanceLockedError(RuntimeError):
    """Another process already trades this account; ``holder`` says who when it could be read."""

    def __init__(self, message: str, holder: Holder | None = None, where: str = "") -> None:
        super().__init__(message)
        self.holder = holder
        self.where = where


def account_key(exchange: str, api_key: str) -> str:
    """The account's identity for locks and leases: a hash of exchange id and API key, never the key."""
    return hashlib.sha256(f"{exchange}\0{api_key}".encode()).hexdigest()[:24]


def account_lock_name(exchange: str, api_key: str) -> str:
    return f"{exchange}-{account_key(exchange, api_key)}.lock"


def machine_lock_dir(env: Mapping[str, str]) -> Path:
    """Where every tradewarden process of this machine keeps its account locks (see the module docstring)."""
    override = env.get(LOCK_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    for base in SYSTEM_LOCK_DIRS:
        ours = base / "tradewarden"
        if ours.is_dir() and os.access(ours, os.W_OK | os.X_OK):
            return ours
        if not ours.exists() and base.is_dir() and os.access(base, os.W_OK | os.X_OK):
            return ours
    return Path(tempfile.gettempdir()) / "tradewarden-locks"


def _make_shared_dir(directory: Path) -> None:
    """Create a machine-wide lock directory usable by every user (mode 1777, like /tmp)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        info = directory.stat()
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != _SHARED_MODE:
            directory.chmod(_SHARED_MODE)  # mkdir's mode is cut by the umask
    except OSError as exc:
        raise InstanceLockedError(f"cannot use the lock directory {directory}: {exc.strerror}; set "
                                  f"{LOCK_DIR_ENV} to a directory every tradewarden process of this machine "
                                  "can write", where=str(directory)) from None


class InstanceLock:
    """An exclusive lock on ``directory/name``; ``shared`` makes the directory machine-wide (mode 1777)."""

    def __init__(self, directory: Path, name: str, *, shared: bool = False, bot: str = "") -> None:
        self.path = directory / name
        self.shared = shared
        self.bot = bot
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.shared:
            _make_shared_dir(self.path.parent)
        else:  # the data directory's own locks: private like the rest of it
            private_dir(self.path.parent, "lock directory")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except PermissionError:
            # another user's lock file (a sticky directory keeps it theirs): their bot may be running
            owner = self.path.stat().st_uid
            raise InstanceLockedError(
                f"the lock {self.path} of this account belongs to another user (uid {owner}): their "
                "tradewarden may trade this account; stop it first (one instance per exchange account), or "
                "remove the file as that user if no bot runs", where=str(self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = holder.describe() if holder else "another process"
            raise InstanceLockedError(
                f"another tradewarden instance ({who}) already trades this account (lock {self.path}); "
                "stop it first: one instance per exchange account", holder, str(self.path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(Holder.me(self.bot).fields()).encode(), 0)
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


def _read_holder(fd: int) -> Holder | None:
    """The holder recorded in a lock file (None while the holder has not written it yet)."""
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        data = json.loads(os.pread(fd, 4096, 0).decode())
        return Holder(str(data["host"]), int(data["pid"]), str(data["since"]), str(data.get("bot", "")))
    return None


def session_lock(exchange: str, api_key: str | None, mode: str, data_dir: Path, env: Mapping[str, str],
                 bot: str = "") -> InstanceLock:
    """The lock a session takes: machine-wide on its exchange account when it holds a key, else on its data
    directory (a keyless session's only shared state)."""
    if api_key:
        chosen = bool(env.get(LOCK_DIR_ENV, "").strip())  # a directory the operator chose keeps its mode
        return InstanceLock(machine_lock_dir(env), account_lock_name(exchange, api_key), shared=not chosen,
                            bot=bot)
    return InstanceLock(data_dir / "locks", f"{exchange}-{mode}-local.lock", bot=bot)
