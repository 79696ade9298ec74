"""Running a strategy over candles, by either engine path, without touching the disk.

``simulate_batch`` runs the compiled loop (the fast path; the optimizer calls it thousands of times).
``simulate_per_candle`` feeds the candles one at a time through :class:`~tradewarden.engine.Engine` and the
:class:`~tradewarden.venues.simulated.SimulatedVenue`, exactly as paper trading does; it is the path the
risk gate runs on. Both return a :class:`Simulation` in the same integer units, so they can be compared
exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from tradewarden.backtest.event_lines import EventLines
from tradewarden.backtest.fast import (
    L_BAR,
    L_FILLED,
    L_QTY,
    L_SIDE,
    L_STATUS,
    run_batch,
)
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.backtest.walk import FillRecord, walk_activity
from tradewarden.domain.candles import CandleSeries, timeframe_ms
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import OrderStatus
from tradewarden.domain.ports import EventSink, PreTradeCheck
from tradewarden.domain.ticks import price_to_ticks, prices_to_ticks
from tradewarden.domain.trades import Trade
from tradewarden.engine.engine import Engine, RiskHooks
from tradewarden.engine.ids import client_order_id
from tradewarden.engine.trades import TradeBook
from tradewarden.errors import BadInput
from tradewarden.strategies.base import Strategy, check_causal
from tradewarden.venues.fillmodel import (
    ST_CANCELLED,
    ST_CANCELLED_FUNDS,
    ST_FILLED,
    ST_NOTHING_TO_REDUCE,
)
from tradewarden.venues.simulated import SimulatedVenue

# (client_id, side, qty steps, final status, filled steps)
OrderRecord = tuple[str, int, int, str, int]

_STATUS_NAMES = {
    ST_FILLED: OrderStatus.FILLED.value, ST_CANCELLED: OrderStatus.CANCELLED.value,
    ST_CANCELLED_FUNDS: OrderStatus.CANCELLED.value, ST_NOTHING_TO_REDUCE: OrderStatus.CANCELLED.value,
    -1: OrderStatus.ACCEPTED.value,
}
_PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED.value
_CANCELLED = OrderStatus.CANCELLED.value


def _final_status(code: int, filled: int) -> str:
    if code == -1 and filled > 0:
        return _PARTIALLY_FILLED
    return _STATUS_NAMES.get(code, _CANCELLED)


class NothingToTestError(BadInput, ValueError):
    """Too few candles for the strategy to say anything."""


@dataclass
class Simulation:
    # No reference to the candles: a caller done with their open, high, low and volume can let them go
    # before the reports (17 MB a year of minutes at the run's memory peak).
    instrument: Instrument
    path: str
    equity_atoms: npt.NDArray[np.int64]
    trades: list[Trade]
    open_trade: Trade | None
    fees_atoms: int
    exposed_bars: int
    fills: list[FillRecord] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def equity(self) -> npt.NDArray[np.float64]:
        equity = self.equity_atoms.astype(np.float64)
        equity *= float(self.instrument.atom)   # in place: no second per-bar temporary
        return equity

    @property
    def fees(self) -> Decimal:
        return self.instrument.from_atoms(self.fees_atoms)

    @property
    def all_trades(self) -> list[Trade]:
        return self.trades + ([self.open_trade] if self.open_trade else [])


def simulate_batch(series: CandleSeries, strategy: Strategy, settings: BacktestSettings,
                   instrument: Instrument, events: EventSink | None = None, check_lookahead: bool = True,
                   keep_records: bool = False, trade_from: int = 0) -> Simulation:
    """The whole backtest in the compiled loop. ``events`` gets the same events the engine would emit;
    ``keep_records`` keeps the fills and orders as records too (``Simulation.fills``/``orders``).

    ``trade_from``: the first bar on which signals may trade; earlier bars only warm the strategy up, as a
    live session's history does (so a session and a backtest of its candles can be compared).
    """
    n = len(series)
    if n == 0:
        raise NothingToTestError("no candles to test")
    view = series.read_only()
    sig = strategy.signals(view)
    if sig.target.shape != (n,):
        raise ValueError(f"strategy {strategy.name} returned {sig.target.shape[0]} signals for {n} candles")
    if check_lookahead:
        check_causal(strategy, view, sig)
    target = sig.target
    if trade_from > 0 or not (target.dtype == np.float64 and target.flags.c_contiguous and target.flags.writeable):
        target = np.array(target, dtype=np.float64)  # a copy only when needed: 4 MB a year of minutes
        target[:trade_from] = np.nan
    sl = prices_to_ticks(sig.stop_loss, n, instrument)
    tp = prices_to_ticks(sig.take_profit, n, instrument)
    o, h, lo, c, v = (np.ascontiguousarray(x, dtype=np.float64)
                      for x in (series.open, series.high, series.low, series.close, series.volume))
    res = run_batch(o, h, lo, c, v, float(instrument.tick_size), float(instrument.step_size), target, sl, tp,
                    settings.fill_params(), settings.sizing_array(instrument),
                    instrument.to_atoms(settings.initial_cash))
    # the signals are spent: not held while the walk below builds the trades and events (4 MB a year of
    # minutes, at what is otherwise the run's memory peak)
    del sig, target, sl, tp, o, h, lo, c, v, view
    tf_ms = timeframe_ms(series.timeframe)
    lines = EventLines(events) if events is not None else None
    book = TradeBook(instrument, lines)
    ts = series.ts
    ids = _client_ids(res.orders, ts, strategy.name, instrument.symbol)
    # records only on request: the events already say the same, and a year of minutes has ~10^4 of each
    want_records = keep_records
    fills = walk_activity(res.fills, res.orders, ts, tf_ms, ids, instrument, book, lines, want_records)
    orders: list[OrderRecord] = []
    if want_records:
        cols = (res.orders[:, L_SIDE].tolist(), res.orders[:, L_QTY].tolist(), res.orders[:, L_STATUS].tolist(),
                res.orders[:, L_FILLED].tolist())
        orders = [(ids[k], side, qty, _final_status(status, filled), filled)
                  for k, (side, qty, status, filled) in enumerate(zip(*cols, strict=True))]
    last = n - 1
    open_trade = book.open_trade(int(ts[last]), price_to_ticks(float(series.close[last]), instrument))
    return Simulation(instrument, "batch", res.equity_atoms, book.trades.kept(), open_trade, res.fees_atoms,
                      res.exposed_bars, fills, orders)


def _client_ids(order_rows: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], strategy: str,
                symbol: str) -> list[str]:
    ids: list[str] = []
    prev_bar = -1
    j = 0
    for bar in order_rows[:, L_BAR].tolist() if len(order_rows) else []:
        j = j + 1 if bar == prev_bar else 0
        prev_bar = bar
        ids.append(client_order_id(strategy, symbol, int(ts[bar]), j))
    return ids


def simulate_per_candle(series: CandleSeries, strategy: Strategy, settings: BacktestSettings,
                        instrument: Instrument, events: EventSink, check: PreTradeCheck | None = None,
                        risk: RiskHooks | None = None, progress: Any = None) -> Simulation:
    """Feed the candles one at a time through the engine and the simulated venue (the paper-trading path)."""
    if len(series) == 0:
        raise NothingToTestError("no candles to test")
    venue = SimulatedVenue(instrument, settings.fill, settings.initial_cash)
    engine = Engine(strategy, instrument, venue, events, settings.engine_settings(), settings.initial_cash,
                    series.timeframe, check=check, risk=risk)
    for i in range(len(series)):
        engine.on_candle(series.candle(i))
        if progress is not None and i % 1000 == 0:
            progress(i)
    fills: list[FillRecord] = [
        (f.ts, f.client_id, f.side.sign, instrument.to_steps(f.qty), instrument.to_ticks(f.price),
         instrument.to_atoms(f.fee), f.reason) for f in engine.fills
    ]
    protective = ("-sl", "-tp", "-ts")
    orders: list[OrderRecord] = [
        (o.client_id, o.side.sign, instrument.to_steps(o.qty), o.status.value, instrument.to_steps(o.filled_qty))
        for o in engine.orders.values()
        if not (o.reduce_only and o.client_id.endswith(protective))
    ]
    last = len(series) - 1
    close_ticks = int(np.rint(series.close[last] / float(instrument.tick_size)))
    open_trade = engine.trades.open_trade(int(series.ts[last]), close_ticks)
    return Simulation(instrument, "per_candle", engine.equity_array(), engine.trades.trades.kept(),
                      open_trade, engine.fees_atoms, engine.exposed_bars, fills, orders)
