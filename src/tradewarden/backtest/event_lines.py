"""The batch backtest's events as JSON lines, the fixed-shape ones formatted straight from its arrays.

A year of one-minute candles gives tens of thousands of fills and orders. Building a dict of keyword
arguments per event, then a Decimal or a text per number, then letting the journal encode each dict, cost
several times the simulation itself. Here the prices, quantities, fees and times of all events are turned
into text in bulk, each ``Fill``/``OrderPlaced``/order-ending line is one f-string with exactly the bytes
:meth:`EventJournal.emit` would write (tests compare the two paths byte for byte), the trade book's events
are encoded as usual, and everything reaches the journal in blocks: one scrub and one write per block.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from tradewarden.domain.ports import EventSink
from tradewarden.observability.journal import RESERVED, EventJournal, encode_event, iso_utc

I64Array = npt.NDArray[np.int64]


class EventLines:
    """Collects encoded event lines and hands them to ``sink`` a block at a time.

    It is also an :class:`EventSink` (``emit``), for the trade book. A sink other than an
    :class:`EventJournal` (tests keep events in memory) gets each line decoded back into its fields, so it
    sees what a reader of ``events.jsonl`` sees.
    """

    def __init__(self, sink: EventSink, block: int = 1024) -> None:
        self.sink = sink
        self.block = block
        self.lines: list[str] = []
        self._ts = -1      # the last line's time, and its text: the trade book's events follow a fill
        self._time = ""

    def emit(self, type_: str, ts: int, **fields: Any) -> None:
        ts = int(ts)
        body = _fields_text(fields)
        if body is None:  # a value of a kind the short path does not write: as the journal does
            self.lines.append(encode_event(type_, ts, fields).decode())
        else:
            time = self._time if ts == self._ts else iso_utc(ts)
            self.add(ts, time, f'"type":{json_text(type_)}{body}')

    def add(self, ts: int, time: str, body: str) -> None:
        """An event already formatted: ``body`` is ``"type":"...",<fields>`` as JSON, after the envelope."""
        self._ts, self._time = ts, time
        self.lines.append(f'{{"ts":{ts},"time":"{time}",{body}}}')
        if len(self.lines) >= self.block:
            self.flush()

    def flush(self) -> None:
        if isinstance(self.sink, EventJournal):
            self.sink.write_lines(self.lines)
        else:
            for line in self.lines:
                record = orjson.loads(line)
                type_, ts = record.pop("type"), record.pop("ts")
                del record["time"]
                self.sink.emit(type_, ts, **record)
        self.lines = []


def _fields_text(fields: dict[str, Any]) -> str | None:
    """``,"key":value`` for each field as the journal writes it (Decimals as exact plain text, like its
    encoder), or None when a field is of another kind (floats, lists...) or takes an envelope name."""
    if RESERVED.intersection(fields):
        return None  # encode_event raises the error
    parts = []
    for key, value in fields.items():
        kind = type(value)
        if kind is Decimal:
            text = f'"{format(value, "f")}"'
        elif kind is str:
            text = json_text(value)
        elif kind is int:
            text = str(value)
        elif kind is bool:
            text = "true" if value else "false"
        elif value is None:
            text = "null"
        else:
            return None
        parts.append(f",{json_text(key)}:{text}")
    return "".join(parts)


@lru_cache(maxsize=4096)  # symbols, sides, reasons and field names: a handful, on every line
def json_text(value: str) -> str:
    """A string as a JSON literal (quotes and escapes included), for names that come from the config."""
    return orjson.dumps(value).decode()


def grid_texts(units: I64Array, grid: Decimal) -> list[str]:
    """``str(Decimal(u) * grid)`` at the grid's exponent for each ``u``: what ``Instrument.ticks_text``,
    ``steps_text`` and ``atoms_text`` give one at a time, for a whole column at once."""
    sign, digits, exponent = grid.as_tuple()  # not normalised: "0.010" keeps its three places
    if sign or digits != (1,) or not isinstance(exponent, int) or exponent > 0:
        # not a power of ten: the general (slow) exact path
        return [format((Decimal(u) * grid).quantize(grid), "f") for u in units.tolist()]
    places = -exponent
    if places == 0:
        return [str(u) for u in units.tolist()]
    whole, frac = np.divmod(np.abs(units), 10**places)
    negative = (units < 0).tolist()
    return [f"{'-' if neg else ''}{w}.{f:0{places}d}"
            for neg, w, f in zip(negative, whole.tolist(), frac.tolist(), strict=True)]


def iso_times(ms: I64Array) -> list[str]:
    """``iso_utc`` of each millisecond time (``2021-01-01T00:00:00.000Z``), in bulk."""
    text = np.datetime_as_string(np.asarray(ms, dtype=np.int64).astype("datetime64[ms]"), unit="ms")
    return [s + "Z" for s in text.tolist()]
