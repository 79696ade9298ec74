"""The session's results so far (per bar: time, close, equity; the closed trades), kept in the state database
so that a session resumed after a crash reports on the whole session, not only on the bars since the resume.

They are written with each step, in the step's transaction, as snapshots of fixed-size chunks
(``series:<k>``, ``trades:<k>``): a step rewrites only the chunk that grew, so its cost does not grow with
the session, and after a crash the chunks hold exactly the bars and trades of the steps that were committed,
as the engine's own snapshot does.

The engine holds only the newest bars and trades (:class:`~tradewarden.engine.window.Window`): the reports at
the end read the whole session back from these chunks (:meth:`SessionSeries.results`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Protocol

from tradewarden.domain.trades import Trade
from tradewarden.engine.window import Window
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

    trades: Window[Trade]


class SeriesSource(Protocol):
    """The engine's per-bar windows and closed trades (:class:`tradewarden.engine.engine.Engine`)."""

    candle_ts: Window[int]
    candle_close: Window[float]
    equity_atoms: Window[int]

    @property
    def trades(self) -> TradeList: ...


@dataclass(frozen=True)
class SessionResults:
    """The whole session's bars (time, close, equity) and closed trades, for its reports."""

    ts: list[int]
    close: list[float]
    equity: list[int]
    trades: list[Trade]

    @staticmethod
    def held(source: SeriesSource) -> SessionResults | None:
        """What the source holds in memory, or None when its windows dropped older bars or trades."""
        windows = (source.candle_ts, source.candle_close, source.equity_atoms, source.trades.trades)
        if not all(w.complete for w in windows):
            return None
        return SessionResults(list(source.candle_ts), list(source.candle_close), list(source.equity_atoms),
                              list(source.trades.trades))


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

    def results(self, source: SeriesSource,
                snapshots: Callable[[], Mapping[str, Mapping[str, Any]]]) -> SessionResults:
        """The whole session: from memory while it holds all of it, else from the stored chunks (every step
        was written before the reports are, so the store has the whole session)."""
        held = SessionResults.held(source)
        return held if held is not None else self.load(snapshots())

    def load(self, snapshots: Mapping[str, Mapping[str, Any]]) -> SessionResults:
        """The stored bars and trades, in order."""
        out = SessionResults([], [], [], [])
        for k in range(len(_chunks(snapshots, self.series_prefix))):
            chunk = snapshots[f"{self.series_prefix}{k}"]
            out.ts.extend(int(v) for v in chunk["ts"])
            out.close.extend(float(v) for v in chunk["close"])
            out.equity.extend(int(v) for v in chunk["equity"])
        for k in range(len(_chunks(snapshots, self.trades_prefix))):
            out.trades.extend(_trade(t) for t in snapshots[f"{self.trades_prefix}{k}"]["trades"])
        return out

    def restore(self, snapshots: Mapping[str, Mapping[str, Any]], engine: SeriesSource) -> None:
        """Put the stored bars and trades back into the (freshly restored) engine, in order (its windows keep
        the newest and count all of them)."""
        stored = self.load(snapshots)
        engine.candle_ts.extend(stored.ts)
        engine.candle_close.extend(stored.close)
        engine.equity_atoms.extend(stored.equity)
        engine.trades.trades.extend(stored.trades)
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
