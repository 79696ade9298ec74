"""Recording every market data event a session receives, and reading it back for ``tradewarden replay``.

A recording is JSON lines: a header (format version, mode, the effective config with secrets masked, its
hash), then one line per event in the order the session received it (``candle`` for a closed candle,
``ticker`` and others as the feed delivers them). Lines are flushed as written, so a crash loses at most
the line being written; a torn last line is ignored on reading.

A session resumed after a crash continues its recording: the new run's file starts with the previous one up
to the last candle the state database holds (:func:`continue_recording`; candles recorded after it were
not stored, and come again), then a ``resumed`` line, then what the new process receives. So the last run's
recording holds the whole session and replays to its orders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from tradewarden.domain.candles import Candle
from tradewarden.private_files import open_private

FORMAT = 1


class RecordingError(ValueError):
    """A recording that cannot be replayed; the message names the file and line."""


class Recorder:
    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or path.stat().st_size == 0
        self._fh: IO[bytes] = open_private(path)
        if fresh:
            self._write({"kind": "header", "format": FORMAT, **header})

    def _write(self, record: dict[str, Any]) -> None:
        self._fh.write(orjson.dumps(record) + b"\n")
        self._fh.flush()

    def candle(self, symbol: str, timeframe: str, c: Candle, warmup: bool = False) -> None:
        """A closed candle the session received; ``warmup`` for history loaded before trading started."""
        self._write({"kind": "warmup" if warmup else "candle", "symbol": symbol, "timeframe": timeframe,
                     "c": [c.ts, c.open, c.high, c.low, c.close, c.volume]})

    def event(self, kind: str, **payload: Any) -> None:
        self._write({"kind": kind, **payload})

    def close(self) -> None:
        self._fh.close()


@dataclass
class Recording:
    header: dict[str, Any]
    path: Path

    def candles(self, warmup: bool = False) -> Iterator[tuple[str, str, Candle]]:
        """The traded candles in order (or, with ``warmup``, the history loaded before trading)."""
        wanted = "warmup" if warmup else "candle"
        for lineno, record in _records(self.path):
            if record.get("kind") != wanted:
                continue
            symbol, timeframe = record.get("symbol"), record.get("timeframe")
            if not isinstance(symbol, str) or not isinstance(timeframe, str):
                raise RecordingError(f"{self.path}:{lineno}: malformed candle record")
            yield symbol, timeframe, _candle(record, self.path, lineno)

    def steps(self) -> Iterator[tuple[bool, Candle]]:
        """Every candle in the order the session received it: (history only, candle). History is the warm-up
        before trading and candles that closed while a resumed bot was down (never traded)."""
        for lineno, record in _records(self.path):
            if record.get("kind") in ("warmup", "candle"):
                yield record["kind"] == "warmup", _candle(record, self.path, lineno)

    def resumes(self) -> list[dict[str, Any]]:
        """The ``resumed`` records: where the session continued after a crash, with that run's config hash."""
        return [record for _, record in _records(self.path) if record.get("kind") == "resumed"]


def _candle(record: dict[str, Any], path: Path, lineno: int) -> Candle:
    try:
        ts, o, h, lo, c, v = record["c"]
        return Candle(int(ts), float(o), float(h), float(lo), float(c), float(v))
    except (KeyError, TypeError, ValueError):
        raise RecordingError(f"{path}:{lineno}: malformed candle record") from None


def continue_recording(path: Path, previous: Path, until_ts: int) -> bool:
    """Start ``path`` (which may be ``previous`` itself) with ``previous`` up to the candle at ``until_ts``.

    False, and nothing written, when ``previous`` is missing or unreadable. The file is replaced at once
    (written aside, then renamed), so a crash meanwhile leaves the previous one as it was.
    """
    try:
        records = list(_records(previous))
    except (OSError, RecordingError):
        return False
    if not records or records[0][1].get("kind") != "header":
        return False
    kept = bytearray()
    for lineno, record in records:
        if record.get("kind") in ("warmup", "candle") and _candle(record, previous, lineno).ts > until_ts:
            break  # received but never stored: the resumed session receives it again
        kept += orjson.dumps(record) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(path.name + ".part")
    aside.write_bytes(bytes(kept))
    os.replace(aside, path)
    return True


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("rb") as fh:
        lines = fh.read().split(b"\n")
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            if i >= len(lines) - 1:  # a torn last line from a crash: everything before it is good
                return
            raise RecordingError(f"{path}:{i}: not valid JSON") from None
        if not isinstance(record, dict):
            raise RecordingError(f"{path}:{i}: expected a JSON object")
        yield i, record


def open_recording(path: Path) -> Recording:
    if not path.is_file():
        raise RecordingError(f"{path}: recording not found")
    for lineno, record in _records(path):
        if record.get("kind") != "header":
            raise RecordingError(f"{path}:{lineno}: the first record must be the header")
        if record.get("format") != FORMAT:
            raise RecordingError(f"{path}:{lineno}: unsupported recording format {record.get('format')!r}")
        return Recording(record, path)
    raise RecordingError(f"{path}: empty recording")
