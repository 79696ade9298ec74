"""Recording every market data event a session receives, and reading it back for ``tradewarden replay``.

A recording is JSON lines: a header (format version, mode, the effective config with secrets masked, its
hash), then one line per event in the order the session received it (``candle`` for a closed candle,
``ticker`` and others as the feed delivers them). Lines are flushed as written, so a crash loses at most
the line being written; a torn last line is ignored on reading.
"""

from __future__ import annotations

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
            try:
                ts, o, h, lo, c, v = record["c"]
                yield record["symbol"], record["timeframe"], Candle(int(ts), float(o), float(h), float(lo),
                                                                    float(c), float(v))
            except (KeyError, TypeError, ValueError):
                raise RecordingError(f"{self.path}:{lineno}: malformed candle record") from None


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
