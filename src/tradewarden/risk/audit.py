"""The audit trail: an append-only JSON-lines file of every risk decision, chained by hashes.

Each record is ``{"seq", "ts", "type", ...fields, "prev_hash", "hash"}``. ``hash`` is the SHA-256 of the
record's canonical form (the record without ``hash``, keys sorted, compact JSON, decimals as strings) and
``prev_hash`` is the hash of the record before it (64 zeros for the first). Editing a record breaks its
hash, deleting one leaves a gap in ``seq`` and the chain, and swapping two puts ``seq`` out of order:
:func:`verify_audit` finds each and names the first bad line. One process writes a trail at a time.
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

from tradewarden.private_files import open_private

GENESIS = "0" * 64
RESERVED = frozenset({"seq", "ts", "type", "prev_hash", "hash"})


class AuditError(RuntimeError):
    """The audit file cannot be continued (unreadable or damaged at its end)."""


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
    """Appends hash-chained records; reopening an existing file continues its chain."""

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self.seq = 0
        self.last_hash = GENESIS
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._resume()
        self._fh = open_private(path)

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
    why: str = ""                # "edited", "deleted", "reordered", "malformed"
    message: str = ""
    last_hash: str = GENESIS


def _bad(records: int, line: int, why: str, message: str) -> AuditVerification:
    return AuditVerification(False, records, line, why, f"line {line}: {message}")


def verify_audit(path: Path) -> AuditVerification:
    """Check the whole chain. ``first_bad`` is the first line at which the file stops being the trail written.

    Deleting records from the very end cannot be seen from the file alone (nothing follows them); compare
    ``records``/``last_hash`` with what the bot reported if that matters.
    """
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
