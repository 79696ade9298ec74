"""The event journal: ``events.jsonl``, one scrubbed JSON object a line, written by every mode."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from pathlib import Path, PurePath
from types import TracebackType
from typing import IO, Any

import orjson

from tradewarden.domain.events import EventType
from tradewarden.observability.scrub import SCRUBBER
from tradewarden.private_files import open_private

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(obj: Any) -> Any:
    """What orjson cannot serialise itself: Decimals as exact strings, paths as strings, numpy scalars."""
    if isinstance(obj, Decimal):
        return format(obj, "f")  # exact, and never scientific notation ("0E-7")
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    item = getattr(obj, "item", None)  # numpy scalars orjson's numpy option does not cover (e.g. np.bool_)
    if callable(item):
        return item()
    raise TypeError(f"cannot write a {type(obj).__name__} to the event journal")


@lru_cache(maxsize=4096)
def _iso_day(days: int) -> str:
    return (_EPOCH + timedelta(days=days)).strftime("%Y-%m-%d")


def iso_utc(ms: int) -> str:
    """``2021-01-01T00:00:00.000Z`` for a millisecond timestamp.

    Integer arithmetic (no float rounding of the milliseconds) and one cached date per day: it runs for
    every event, and strftime per call costs more than the rest of the line.
    """
    seconds, millis = divmod(int(ms), 1000)
    days, second_of_day = divmod(seconds, 86_400)
    hours, rest = divmod(second_of_day, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{_iso_day(days)}T{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}Z"


def dump_line(record: dict[str, Any]) -> bytes:
    """One record as one scrubbed JSON line (without the newline)."""
    raw = orjson.dumps(record, default=_default, option=_DUMP_OPTIONS)
    text = raw.decode()
    scrubbed = SCRUBBER.scrub(text)
    return raw if scrubbed == text else scrubbed.encode()


RESERVED = frozenset({"ts", "time", "type"})


def encode_event(type_: str, ts: int, fields: dict[str, Any]) -> bytes:
    """One event as the JSON line :meth:`EventJournal.emit` writes, before scrubbing, without the newline."""
    clash = RESERVED.intersection(fields)
    if clash:  # a field named like the envelope would silently replace it
        raise ValueError(f"event {type_}: field(s) {sorted(clash)} are reserved for the event envelope")
    ts = int(ts)
    return orjson.dumps({"ts": ts, "time": iso_utc(ts), "type": type_, **fields}, default=_default,
                        option=_DUMP_OPTIONS)


class EventJournal:
    """Appends events to a JSON-lines file (and/or keeps them in memory), scrubbed of secrets.

    Each line is flushed to the operating system as it is written, so a crash of the process loses at most
    the event being written (a crash of the machine may lose what the OS had not yet written; we do not
    fsync per line, which would cost milliseconds an event). With neither a path nor ``keep_in_memory`` the
    journal discards events, which suits callers that need a sink but not a record.
    """

    def __init__(self, path: Path | None = None, keep_in_memory: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.keep_in_memory = keep_in_memory
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # append: a resumed run continues its journal instead of erasing it; owner-only (it names
            # balances and orders) whatever the umask
            self._file = open_private(self.path)
        self._closed = False

    def emit(self, type_: EventType, ts: int, **fields: Any) -> dict[str, Any]:
        """Write ``{"ts", "time", "type", **fields}``; return the record as written (JSON types, scrubbed)."""
        if self._closed:
            raise RuntimeError(f"event journal {self.path} is closed; cannot write {type_}")
        clash = RESERVED.intersection(fields)
        if clash:  # a field named like the envelope would silently replace it
            raise ValueError(f"event {type_}: field(s) {sorted(clash)} are reserved for the event envelope")
        ts = int(ts)
        line = dump_line({"ts": ts, "time": iso_utc(ts), "type": type_, **fields})
        record: dict[str, Any] = orjson.loads(line)
        with self._lock:
            if self._file is not None:
                self._file.write(line + b"\n")
                self._file.flush()
            if self.keep_in_memory:
                self.events.append(record)
        return record

    def emit_many(self, events: Iterable[tuple[EventType, int, dict[str, Any]]]) -> int:
        """Write many events at once (a backtest's whole history): one scrub and one write for the block.

        The result is the same bytes as calling :meth:`emit` for each; secrets never span lines, so
        scrubbing the joined block equals scrubbing each line. Returns how many were written.
        """
        if self._closed:
            raise RuntimeError(f"event journal {self.path} is closed")
        lines = []
        for type_, ts, fields in events:
            clash = RESERVED.intersection(fields)
            if clash:
                raise ValueError(f"event {type_}: field(s) {sorted(clash)} are reserved for the envelope")
            ts = int(ts)
            lines.append(orjson.dumps({"ts": ts, "time": iso_utc(ts), "type": type_, **fields},
                                      default=_default, option=_DUMP_OPTIONS))
        if not lines:
            return 0
        block = SCRUBBER.scrub(b"\n".join(lines).decode()).encode() + b"\n"
        with self._lock:
            if self._file is not None:
                self._file.write(block)
                self._file.flush()
            if self.keep_in_memory:
                self.events.extend(orjson.loads(line) for line in block.splitlines())
        return len(lines)

    def write_lines(self, lines: Sequence[str]) -> int:
        """Write events already encoded as :func:`encode_event` does (the batch backtest formats its events
        straight from arrays): one scrub and one write for the block, as :meth:`emit_many`."""
        if self._closed:
            raise RuntimeError(f"event journal {self.path} is closed")
        if not lines:
            return 0
        block = (SCRUBBER.scrub("\n".join(lines)) + "\n").encode()
        with self._lock:
            if self._file is not None:
                self._file.write(block)
                self._file.flush()
            if self.keep_in_memory:
                self.events.extend(orjson.loads(line) for line in block.splitlines())
        return len(lines)

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        """The in-memory events of one type (needs ``keep_in_memory``)."""
        return [e for e in self.events if e["type"] == type_]

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            self._closed = True

    def __enter__(self) -> EventJournal:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """All events of a journal file; a clear error naming the line for one that is not JSON."""
    events: list[dict[str, Any]] = []
    with Path(path).open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                events.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON event line ({exc})") from None
    return events
