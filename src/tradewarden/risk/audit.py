"""The audit trail: an append-only JSON-lines file of every risk decision, chained by hashes.

Each record is ``{"seq", "ts", "type", ...fields, "prev_hash", "hash"}``. ``hash`` is the SHA-256 of the
record's canonical form (the record without ``hash``, keys sorted, compact JSON, decimals as strings) and
``prev_hash`` is the hash of the record before it (64 zeros for the first). Editing a record breaks its
hash, deleting one leaves a gap in ``seq`` and the chain, and swapping two puts ``seq`` out of order:
:func:`verify_audit` finds each and names the first bad line. One process writes a trail at a time.

What the file alone cannot show (records cut from its end, the whole file deleted, or every hash recomputed
after an edit) is found against an :class:`AuditHead`, the record count and last hash kept elsewhere (the
database, see :mod:`tradewarden.risk.account_audit`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import orjson

from tradewarden.private_files import open_private, private_dir

GENESIS = "0" * 64
RESERVED = frozenset({"seq", "ts", "type", "prev_hash", "hash"})


class AuditError(RuntimeError):
    """The audit file cannot be continued (unreadable, damaged, or not the trail the database remembers)."""


@dataclass(frozen=True)
class AuditHead:
    """What is remembered of a trail outside its file: how many records it had and the hash of the last."""

    seq: int
    last_hash: str


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to the audit trail")


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes a record's hash covers: everything but ``hash``, keys sorted, compact."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=_default)


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def _last_line(path: Path) -> tuple[bytes, int]:
    """The last line of the file (without its newline) and how many lines the file has."""
    with path.open("rb") as fh:
        data = fh.read()
    if not data:
        return b"", 0
    if not data.endswith(b"\n"):
        n = data.count(b"\n") + 1
        raise AuditError(f"{path}: line {n} is incomplete (was the bot stopped mid-write?); "
                         f"run `tradewarden audit verify {path}` and keep the file as evidence")
    lines = data.rstrip(b"\n").split(b"\n")
    return lines[-1], len(lines)


class AuditTrail:
    """Appends hash-chained records; reopening an existing file continues its chain.

    With ``expected`` (the head remembered elsewhere) the file is checked first: a file that is missing, ends
    before that record or holds a different record there is refused (:class:`AuditError`) rather than
    continued, because continuing would hide the damage.
    """

    def __init__(self, path: Path, fsync: bool = False, expected: AuditHead | None = None) -> None:
        self.path = path
        self.fsync = fsync
        self.seq = 0
        self.last_hash = GENESIS
        private_dir(path.parent, "audit directory")  # 0700 whatever the umask: the trail is the owner's
        if expected is not None and expected.seq > 0:
            self._check(expected)
        if path.exists():
            self._resume()
        self._fh = open_private(path)

    def _check(self, expected: AuditHead) -> None:
        where = f"run `tradewarden audit verify` and keep {self.path} as evidence"
        if not self.path.exists():
            raise AuditError(f"{self.path}: DELETED: the audit trail is missing, but the database recorded "
                             f"{expected.seq} records of it; {where}")
        result = verify_audit(self.path, expected)
        if not result.ok:
            raise AuditError(f"{self.path}: {result.why.upper()} at {result.message}; {where}")

    @property
    def pending(self) -> bool:
        """Whether records were appended that :meth:`sync` has not yet remembered (never, here)."""
        return False

    def sync(self, ts: int) -> None:
        """Remember the head outside the file; a plain trail keeps none (see ``AccountAuditTrail``)."""

    def _resume(self) -> None:
        line, n = _last_line(self.path)
        if not line:
            return
        try:
            last = orjson.loads(line)
            seq, stored = int(last["seq"]), str(last["hash"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise AuditError(f"{self.path}: line {n} is not an audit record; cannot continue the chain") \
                from None
        if record_hash(last) != stored:
            raise AuditError(f"{self.path}: line {n} does not match its hash (edited?); "
                             f"run `tradewarden audit verify {self.path}`")
        self.seq, self.last_hash = seq, stored

    def append(self, type_: str, ts: int, **fields: Any) -> dict[str, Any]:
        clash = RESERVED & fields.keys()
        if clash:
            raise ValueError(f"audit fields may not be named {sorted(clash)}")
        record: dict[str, Any] = {"seq": self.seq + 1, "ts": int(ts), "type": type_, **fields,
                                  "prev_hash": self.last_hash}
        record["hash"] = record_hash(record)
        self._fh.write(orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS, default=_default) + b"\n")
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())
        self.seq += 1
        self.last_hash = record["hash"]
        return record

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> AuditTrail:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    records: int                 # records read (lines up to the first bad one, or all)
    first_bad: int | None = None  # 1-based line number
    why: str = ""                # "edited", "deleted", "reordered", "malformed"; against a head: "cut", "rewritten"
    message: str = ""
    last_hash: str = GENESIS


def _bad(records: int, line: int, why: str, message: str) -> AuditVerification:
    return AuditVerification(False, records, line, why, f"line {line}: {message}")


def verify_audit(path: Path, expected: AuditHead | None = None) -> AuditVerification:
    """Check the whole chain. ``first_bad`` is the first line at which the file stops being the trail written.

    Deleting records from the very end cannot be seen from the file alone (nothing follows them), nor can a
    chain whose hashes were all recomputed after an edit. Given ``expected`` (the head the database
    remembers), a file that ends before record ``expected.seq`` is ``cut`` and one whose record there has
    another hash is ``rewritten``. Records after the remembered head are allowed: the head is stored just
    after the records it covers.
    """
    result = _verify_chain(path)
    if not result.ok or expected is None or expected.seq == 0:
        return result
    if result.records < expected.seq:
        missing = f"{result.records + 1}" if expected.seq == result.records + 1 \
            else f"{result.records + 1}..{expected.seq}"
        return _bad(result.records, result.records + 1, "cut",
                    f"the file ends after record {result.records} but the database recorded {expected.seq}: "
                    f"record(s) {missing} were cut from its end")
    found = _hash_at(path, expected.seq)
    if found != expected.last_hash:
        return _bad(expected.seq - 1, expected.seq, "rewritten",
                    f"record seq {expected.seq} is not the one the database recorded (hash {found[:16]}..., "
                    f"recorded {expected.last_hash[:16]}...): the chain was rewritten and its hashes recomputed")
    return result


def _hash_at(path: Path, seq: int) -> str:
    """The hash of record ``seq`` of a file whose chain verified (so line ``seq`` holds record ``seq``)."""
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if n == seq:
                return str(orjson.loads(line)["hash"])
    return ""


def _verify_chain(path: Path) -> AuditVerification:
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    parsed: list[dict[str, Any] | None] = []
    for line in lines:
        try:
            rec = orjson.loads(line)
            parsed.append(rec if isinstance(rec, dict) else None)
        except orjson.JSONDecodeError:
            parsed.append(None)
    prev = GENESIS
    for i, rec in enumerate(parsed):
        n = i + 1
        if rec is None or not isinstance(rec.get("seq"), int) or not isinstance(rec.get("hash"), str):
            return _bad(i, n, "malformed", "not an audit record (not JSON, or no seq/hash)")
        seq = rec["seq"]
        if seq != n:
            later = [r.get("seq") for r in parsed[i + 1 :] if r is not None]
            if seq < n or any(isinstance(s, int) and n <= s < seq for s in later):
                return _bad(i, n, "reordered",
                            f"record seq {seq} where seq {n} belongs (records out of order)")
            missing = f"{n}" if seq == n + 1 else f"{n}..{seq - 1}"
            return _bad(i, n, "deleted", f"record seq {seq} follows seq {n - 1}: record(s) {missing} deleted")
        if record_hash(rec) != rec["hash"]:
            return _bad(i, n, "edited", f"record seq {seq} does not match its hash (its content was changed)")
        if rec.get("prev_hash") != prev:
            return _bad(i, n, "edited", f"record seq {seq} does not chain to line {n - 1} (a record was "
                                        "changed and its hash recomputed, or one was replaced)")
        prev = rec["hash"]
    return AuditVerification(True, len(parsed), last_hash=prev,
                             message=f"{len(parsed)} records, chain intact")
