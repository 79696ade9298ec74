"""One audit trail per account, continued across restarts, with its head kept in the database.

The trail of an account (``mode:exchange:symbol:strategy``, the key the runtime stores the account under)
is ``<data dir>/audit/<account>.jsonl``. After records are appended, their count and the last hash are
written to the database (:meth:`AccountAuditTrail.sync`, after the candle step, never on the way to an
order), so that a tail cut from the file, a deleted file or a chain whose hashes were all recomputed is found
by ``tradewarden audit verify`` and refused when the bot starts.

Operator actions (kill switch on/off from any source, breaker resets, parameter applies, ...) are rows in the
database written by whoever acts; each running bot copies the ones it has not yet recorded into its trail
(:meth:`AccountAuditTrail.copy_operator_actions`), so every account's trail says who did what, even when
the action came from another shell or machine. Actions of the bot's own operator (``--adopt``, a parameter
reload) are appended directly (:meth:`AccountAuditTrail.operator_action`).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tradewarden.risk.audit import AuditHead, AuditTrail

AUDIT_DIR = "audit"
OPERATOR_ACTION = "OPERATOR_ACTION"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def local_actor() -> str:
    """``user@host`` of this process: who acts when no name is given."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def file_owner(path: Path) -> str:
    """``owner@host`` of a file: who changed a parameter file the bot reloads (the best a watcher can tell)."""
    import pwd

    try:
        user = pwd.getpwuid(path.stat().st_uid).pw_name
    except (OSError, KeyError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def bot_identity(account: str) -> str:
    """How a running bot names itself in acknowledgements: its account, host and process id."""
    return f"{account} on {socket.gethostname()} pid {os.getpid()}"


def trail_path(data_dir: Path, account: str) -> Path:
    """``<data dir>/audit/<account>.jsonl``: the account made safe as a file name, plus a short hash of it so
    that two accounts never share a file (``BTC/USDT`` and ``BTC_USDT`` would otherwise)."""
    slug = _UNSAFE.sub("-", account.replace("/", "")).strip("-.") or "account"
    digest = hashlib.sha256(account.encode()).hexdigest()[:8]
    return data_dir / AUDIT_DIR / f"{slug}-{digest}.jsonl"


@dataclass(frozen=True)
class StoredHead:
    """An account's trail as the database remembers it."""

    account: str
    path: str
    head: AuditHead
    actions_seen: int  # the id of the last operator action copied into the trail
    updated_ts: int


@dataclass(frozen=True)
class OperatorAction:
    """Something an operator did, as stored: ``detail`` holds the action's own fields."""

    id: int
    action: str
    actor: str
    detail: dict[str, Any]
    ts: int


class AuditHeadStore(Protocol):
    """What an account's trail needs from the database (:class:`tradewarden.risk.store.RiskStateStore`)."""

    def audit_head(self, account: str) -> StoredHead | None: ...

    def save_audit_head(self, head: StoredHead) -> None: ...

    def operator_actions(self, after_id: int) -> list[OperatorAction]: ...


class AccountAuditTrail(AuditTrail):
    """The audit trail of one account. Opening it checks the file against the head the database remembers
    and refuses (``AuditError``) a file that is missing, cut short or rewritten."""

    def __init__(self, path: Path, store: AuditHeadStore, account: str, fsync: bool = False) -> None:
        stored = store.audit_head(account)
        if stored is not None and Path(stored.path) != path and not path.exists() and stored.head.seq:
            # the same database seen from another data directory (or machine): the trail lives elsewhere
            from tradewarden.risk.audit import AuditError

            raise AuditError(f"the audit trail of {account} is {stored.path} ({stored.head.seq} records), not "
                             f"{path}: run the bot with the data directory that holds it, or copy it there")
        super().__init__(path, fsync, expected=None if stored is None else stored.head)
        self.store = store
        self.account = account
        self.actions_seen = 0 if stored is None else stored.actions_seen
        self._saved = None if stored is None else (stored.head.seq, stored.actions_seen)

    @property
    def pending(self) -> bool:
        return self._saved != (self.seq, self.actions_seen)

    def sync(self, ts: int) -> None:
        """Write the head (record count, last hash, actions copied) to the database if it moved."""
        if not self.pending:
            return
        self.store.save_audit_head(StoredHead(self.account, str(self.path), AuditHead(self.seq, self.last_hash),
                                              self.actions_seen, ts))
        self._saved = (self.seq, self.actions_seen)

    def copy_operator_actions(self, ts: int) -> int:
        """Append the operator actions stored since the last copy, oldest first; return how many."""
        actions = self.store.operator_actions(self.actions_seen)
        for a in actions:
            self.append(OPERATOR_ACTION, ts, action=a.action, actor=a.actor, action_id=a.id, action_ts=a.ts,
                        detail=a.detail)
            self.actions_seen = a.id
        if actions:
            self.sync(ts)
        return len(actions)

    def operator_action(self, ts: int, action: str, actor: str, **detail: Any) -> None:
        """An action taken through this bot itself (``--adopt``, a parameter reload), recorded at once."""
        self.append(OPERATOR_ACTION, ts, action=action, actor=actor, action_ts=ts, detail=detail)
        self.sync(ts)


def restart_trail(store: AuditHeadStore, data_dir: Path, account: str, actor: str, reason: str, ts: int) -> Path:
    """Start a new trail for an account whose trail is damaged (the bot refuses to continue it).

    The damaged file is kept, renamed ``<name>.damaged-<ts>``; the new trail's first record,
    ``AUDIT_TRAIL_RESTARTED``, names what was found, the head the database remembered, who restarted it and
    why. Refused (``AuditError``) for a trail that is intact. Run it with the account's bot stopped.
    """
    from tradewarden.risk.audit import GENESIS, AuditError, verify_audit

    stored = store.audit_head(account)
    path = Path(stored.path) if stored is not None else trail_path(data_dir, account)
    head = stored.head if stored is not None else None
    if path.exists():
        result = verify_audit(path, head)
        finding = f"{result.why.upper()} at {result.message}"
    else:
        result = None
        finding = "DELETED: the file is missing"
    if (result is not None and result.ok) or (result is None and (head is None or head.seq == 0)):
        raise AuditError(f"the audit trail of {account} ({path}) is intact: nothing to restart")
    kept = None
    if path.exists():
        kept = path.with_name(f"{path.name}.damaged-{ts}")
        path.rename(kept)
    seen = stored.actions_seen if stored is not None else 0
    store.save_audit_head(StoredHead(account, str(path), AuditHead(0, GENESIS), seen, ts))
    with AccountAuditTrail(path, store, account) as trail:
        trail.append("AUDIT_TRAIL_RESTARTED", ts, actor=actor, reason=reason, finding=finding,
                     previous_records=None if head is None else head.seq,
                     previous_hash=None if head is None else head.last_hash,
                     damaged_file=None if kept is None else str(kept))
        trail.sync(ts)
    return path
