"""The account lease: one running bot per exchange account among all machines that share the database.

The machine-wide lock file (:mod:`tradewarden.runtime.lock`) cannot see another machine; a PostgreSQL
database shared by two machines can. A lease is one row per account (``account_leases``): its holder (host,
boot, pid, run), since when, its last heartbeat and when it expires. It is taken in one transaction: insert
if there is none, else take it over only when it expired (or when its holder was on this host and is gone),
else refuse. The row is locked for that check (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the
transaction holds the database's write lock), so two bots starting at once cannot both win.

The running bot renews it every :data:`HEARTBEAT_MS`; a renewal that finds the row gone or someone else's
means the lease was lost (this bot stopped renewing for longer than :data:`TTL_MS`, and another took the
account over): the bot must stop trading. A clean stop deletes the row. A holder that died without releasing
holds the account until its lease expires, unless it ran on this host: then a dead pid, or a different boot
of the host, proves it gone and a restart (systemd restarts a crashed bot within seconds) takes over at once.

Times come from the database server's clock on PostgreSQL, so machines with skewed clocks agree on expiry.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from sqlalchemy import Connection, Table, delete, select, text, update

from tradewarden.persistence.database import Database
from tradewarden.persistence.runtime_models import AccountLeaseRow
from tradewarden.persistence.statements import dialect_insert

LEASES = cast(Table, AccountLeaseRow.__table__)
#: a holder that has not renewed for this long is taken for dead
TTL_MS = 30_000
#: how often the running bot renews: three chances before the lease expires
HEARTBEAT_MS = 10_000
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This host's current boot (Linux); empty where the system does not say."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    host: str
    pid: int
    bot: str
    since_ms: int = 0
    boot_id: str = ""

    @classmethod
    def me(cls, bot: str) -> LeaseHolder:
        return cls(socket.gethostname(), os.getpid(), bot, 0, boot_id())

    @property
    def since(self) -> str:
        return datetime.fromtimestamp(self.since_ms / 1000, UTC).isoformat(timespec="seconds")

    def describe(self) -> str:
        run = f", run {self.bot}" if self.bot else ""
        return f"pid {self.pid} on {self.host} since {self.since}{run}"

    def fields(self) -> dict[str, str | int]:
        return {"host": self.host, "pid": self.pid, "since": self.since, "bot": self.bot}


class LeaseHeldError(RuntimeError):
    """Another bot holds the account's lease; ``holder`` says who, ``expires_ms`` until when."""

    def __init__(self, message: str, holder: LeaseHolder, expires_ms: int) -> None:
        super().__init__(message)
        self.holder = holder
        self.expires_ms = expires_ms


class AccountLease:
    """The lease of ``account_key`` in ``db`` for ``holder``. ``clock`` (ms) replaces the database's clock
    (tests); ``ttl_ms`` is how long a renewal holds."""

    def __init__(self, db: Database, account_key: str, holder: LeaseHolder, *, ttl_ms: int = TTL_MS,
                 clock: Callable[[], int] | None = None, pid_alive: Callable[[int], bool] = _pid_alive) -> None:
        self.db = db
        self.account_key = account_key
        self.holder = holder
        self.ttl_ms = ttl_ms
        self.token = uuid.uuid4().hex
        self._clock = clock
        self._pid_alive = pid_alive
        self.expires_ms = 0

    def acquire(self) -> LeaseHolder | None:
        """Take the lease; return the previous holder when an expired or dead one was taken over.

        Raises :class:`LeaseHeldError` while another holder's lease runs.
        """
        insert = dialect_insert(self.db.engine.dialect.name)
        if insert is None:
            raise RuntimeError(f"account leases need SQLite or PostgreSQL, not {self.db.engine.dialect.name}")
        with self._transaction() as conn:
            now = self._now(conn)
            mine = {"token": self.token, "host": self.holder.host, "boot_id": self.holder.boot_id,
                    "pid": self.holder.pid, "bot": self.holder.bot[:255], "since_ms": now, "heartbeat_ms": now,
                    "expires_ms": now + self.ttl_ms}
            stmt = insert(LEASES).values(account_key=self.account_key, **mine)
            if conn.execute(stmt.on_conflict_do_nothing(index_elements=["account_key"])).rowcount == 1:
                self._took(now)
                return None
            row = conn.execute(select(LEASES).where(LEASES.c.account_key == self.account_key)
                               .with_for_update()).one()
            previous = LeaseHolder(row.host, row.pid, row.bot, row.since_ms, row.boot_id)
            if row.expires_ms > now and not self._gone(previous):
                raise LeaseHeldError(
                    f"another tradewarden instance ({previous.describe()}) holds this account's lease in the "
                    f"database {self.db.url}; stop it first: one instance per exchange account (a holder that "
                    f"died releases it within {self.ttl_ms // 1000} s)", previous, row.expires_ms)
            conn.execute(update(LEASES).where(LEASES.c.account_key == self.account_key).values(**mine))
        self._took(now)
        return previous

    def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours (expired and taken over, or deleted)."""
        with self._transaction() as conn:
            now = self._now(conn)
            done = conn.execute(update(LEASES).where(LEASES.c.account_key == self.account_key,
                                                     LEASES.c.token == self.token)
                                .values(heartbeat_ms=now, expires_ms=now + self.ttl_ms)).rowcount == 1
        if done:
            self.expires_ms = now + self.ttl_ms
        return done

    def release(self) -> None:
        """Give the lease up (only ours: a lease another holder took over stays theirs)."""
        with self._transaction() as conn:
            conn.execute(delete(LEASES).where(LEASES.c.account_key == self.account_key,
                                              LEASES.c.token == self.token))
        self.expires_ms = 0

    def current(self) -> LeaseHolder | None:
        """The holder the database records now (for operators and tests)."""
        with self.db.engine.connect() as conn:
            row = conn.execute(select(LEASES).where(LEASES.c.account_key == self.account_key)).one_or_none()
        return None if row is None else LeaseHolder(row.host, row.pid, row.bot, row.since_ms, row.boot_id)

    def now_ms(self) -> int:
        with self.db.engine.connect() as conn:
            return self._now(conn)

    # -- helpers ---------------------------------------------------------------------------------------
    def _took(self, now: int) -> None:
        self.expires_ms = now + self.ttl_ms

    def _gone(self, previous: LeaseHolder) -> bool:
        """A holder on this host is provably gone when the host rebooted since, or its process is dead."""
        if previous.host != self.holder.host:
            return False  # another machine: only its lease's expiry can tell
        if previous.boot_id != self.holder.boot_id:
            return bool(previous.boot_id and self.holder.boot_id)
        return previous.pid != self.holder.pid and not self._pid_alive(previous.pid)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """One write transaction that holds SQLite's write lock from its start (see ``Database.sessions``)."""
        with self.db.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            yield conn

    def _now(self, conn: Connection) -> int:
        if self._clock is not None:
            return self._clock()
        if conn.dialect.name == "postgresql":
            return int(conn.execute(text(
                "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")).scalar_one())
        return int(time.time() * 1000)
