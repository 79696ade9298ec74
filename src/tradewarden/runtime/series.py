"""The session's results so far (per bar: time, close, equity; the closed trades), kept in the state database
so that a session resumed after a crash reports on the whole session, not only on the bars since the resume.

They are written with each step, in the step's transaction, as snapshots of fixed-size chunks
(``series:<k>``, ``trades:<k>``): a step rewrites only the chunk that grew, so its cost does not grow with
the session, and after a crash the chunks hold exactly the bars and trades of the steps that were committed,
as the engine's own snapshot does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from decimal import Decimal
from typing import Any, Protocol

from tradewarden.domain.trades import Trade
from tradewarden.persistence.runtime_store import StoredStateError

#: bars per ``series:<k>`` chunk (a step rewrites at most this many bars)
BAR_CHUNK = 256
#: closed trades per ``trades:<k>`` chunk
TRADE_CHUNK = 64
SERIES_PREFIX = "series:"
TRADES_PREFIX = "trades:"


class SnapshotWriter(Protocol):
    """What a chunk is written through (:class:`tradewarden.persistence.runtime_store.StepWriter`)."""

    def save_snapshot(self, name: str, data: Mapping[str, Any], ts: int) -> None: ...


class TradeList(Protocol):
    """Where the closed trades are (:class:`tradewarden.engine.trades.TradeBook`)."""

    trades: list[Trade]


class SeriesSource(Protocol):
    """The engine's per-bar lists and closed trades (:class:`tradewarden.engine.engine.Engine`)."""

    candle_ts: list[int]
    candle_close: list[float]
    equity_atoms: list[int]

    @property
    def trades(self) -> TradeList: ...


class SessionSeries:
    """Writes the chunks that changed since the last step; restores the whole series after a crash."""

    def __init__(self, tag: str = "") -> None:
        # a portfolio keeps one series per symbol and one for itself: ``series:<tag>:<k>``; a single symbol's
        # session keeps the untagged ``series:<k>`` of earlier versions
        self.series_prefix = f"{SERIES_PREFIX}{tag}:" if tag else SERIES_PREFIX
        self.trades_prefix = f"{TRADES_PREFIX}{tag}:" if tag else TRADES_PREFIX
        self._bars_written = 0    # bars already in the store
        self._trades_written = 0  # closed trades already in the store

    def save(self, writer: SnapshotWriter, engine: SeriesSource, ts: int) -> None:
        bars = len(engine.candle_ts)
        # every chunk from the one holding the first unwritten bar to the one holding the last bar
        for k in range(self._bars_written // BAR_CHUNK, (bars - 1) // BAR_CHUNK + 1 if bars else 0):
            lo, hi = k * BAR_CHUNK, min(bars, (k + 1) * BAR_CHUNK)
            if hi <= self._bars_written:
                continue
            writer.save_snapshot(f"{self.series_prefix}{k}", {"ts": engine.candle_ts[lo:hi],
                                                         "close": engine.candle_close[lo:hi],
                                                         "equity": engine.equity_atoms[lo:hi]}, ts)
        self._bars_written = bars
        trades = engine.trades.trades
        for k in range(self._trades_written // TRADE_CHUNK, (len(trades) - 1) // TRADE_CHUNK + 1 if trades else 0):
            lo, hi = k * TRADE_CHUNK, min(len(trades), (k + 1) * TRADE_CHUNK)
            if hi <= self._trades_written:
                continue
            writer.save_snapshot(f"{self.trades_prefix}{k}", {"trades": [asdict(t) for t in trades[lo:hi]]}, ts)
        self._trades_written = len(trades)

    def restore(self, snapshots: Mapping[str, Mapping[str, Any]], engine: SeriesSource) -> None:
        """Put the stored bars and trades back into the (freshly restored) engine, in order."""
        for k in range(len(_chunks(snapshots, self.series_prefix))):
            chunk = snapshots[f"{self.series_prefix}{k}"]
            engine.candle_ts.extend(int(v) for v in chunk["ts"])
            engine.candle_close.extend(float(v) for v in chunk["close"])
            engine.equity_atoms.extend(int(v) for v in chunk["equity"])
        for k in range(len(_chunks(snapshots, self.trades_prefix))):
            engine.trades.trades.extend(_trade(t) for t in snapshots[f"{self.trades_prefix}{k}"]["trades"])
        self._bars_written = len(engine.candle_ts)
        self._trades_written = len(engine.trades.trades)


def _chunks(snapshots: Mapping[str, Any], prefix: str) -> list[int]:
    """The chunk numbers stored under ``prefix``; they must run 0, 1, 2... without a gap."""
    found = sorted(int(name[len(prefix):]) for name in snapshots
                   if name.startswith(prefix) and name[len(prefix):].isdigit())
    if found != list(range(len(found))):
        raise StoredStateError(f"the stored session results {prefix}<k> are not chunks 0..{len(found) - 1}: "
                               f"{found}")
    return found


def _trade(data: Mapping[str, Any]) -> Trade:
    return Trade(symbol=str(data["symbol"]), side=str(data["side"]), entry_ts=int(data["entry_ts"]),
                 exit_ts=int(data["exit_ts"]), entry_price=Decimal(data["entry_price"]),
                 exit_price=Decimal(data["exit_price"]), qty=Decimal(data["qty"]), pnl=Decimal(data["pnl"]),
                 fees=Decimal(data["fees"]), exit_reason=str(data["exit_reason"]))
