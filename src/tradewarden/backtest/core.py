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

from tradewarden.backtest.fast import (
    L_BAR,
    L_DONE_BAR,
    L_FILLED,
    L_QTY,
    L_REDUCE,
    L_SIDE,
    L_SL,
    L_STATUS,
    L_TP,
    run_batch,
)
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.domain.candles import CandleSeries, timeframe_ms
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import PROTECTIVE_SUFFIX, OrderStatus
from tradewarden.domain.ports import EventSink, PreTradeCheck
from tradewarden.domain.ticks import prices_to_ticks, series_to_ticks
from tradewarden.domain.trades import Trade
from tradewarden.engine.engine import Engine, RiskHooks
from tradewarden.engine.ids import client_order_id
from tradewarden.engine.trades import TradeBook
from tradewarden.errors import BadInput
from tradewarden.strategies.base import Strategy, check_causal
from tradewarden.venues.fillmodel import (
    F_BAR,
    F_FEE,
    F_MAKER,
    F_ORDER,
    F_POS_AFTER,
    F_PRICE,
    F_QTY,
    F_REASON,
    F_SIDE,
    REASONS,
    ST_CANCELLED,
    ST_CANCELLED_FUNDS,
    ST_FILLED,
    ST_NOTHING_TO_REDUCE,
)
from tradewarden.venues.simulated import SimulatedVenue

# (ts, client_id, side, qty steps, price ticks, fee atoms, reason)
FillRecord = tuple[int, str, int, int, int, int, str]
# (client_id, side, qty steps, final status, filled steps)
OrderRecord = tuple[str, int, int, str, int]

_STATUS_NAMES = {
    ST_FILLED: OrderStatus.FILLED.value, ST_CANCELLED: OrderStatus.CANCELLED.value,
    ST_CANCELLED_FUNDS: OrderStatus.CANCELLED.value, ST_NOTHING_TO_REDUCE: OrderStatus.CANCELLED.value,
    -1: OrderStatus.ACCEPTED.value,
}


def _final_status(code: int, filled: int) -> str:
    if code == -1 and filled > 0:
        return OrderStatus.PARTIALLY_FILLED.value
    return _STATUS_NAMES.get(code, OrderStatus.CANCELLED.value)


class NothingToTestError(BadInput, ValueError):
    """Too few candles for the strategy to say anything."""


@dataclass
class Simulation:
    series: CandleSeries
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
        return self.equity_atoms.astype(np.float64) * float(self.instrument.atom)

    @property
    def fees(self) -> Decimal:
        return self.instrument.from_atoms(self.fees_atoms)

    @property
    def all_trades(self) -> list[Trade]:
        return self.trades + ([self.open_trade] if self.open_trade else [])


def simulate_batch(series: CandleSeries, strategy: Strategy, settings: BacktestSettings,
                   instrument: Instrument, events: EventSink | None = None, check_lookahead: bool = True,
                   keep_records: bool = False, trade_from: int = 0) -> Simulation:
    """The whole backtest in the compiled loop. ``events`` gets the same events the engine would emit.

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
    ticks = series_to_ticks(series, instrument)
    target = np.array(sig.target, dtype=np.float64)
    target[:trade_from] = np.nan
    sl = prices_to_ticks(sig.stop_loss, n, instrument)
    tp = prices_to_ticks(sig.take_profit, n, instrument)
    res = run_batch(ticks.o, ticks.h, ticks.lo, ticks.c, ticks.v, target, sl, tp, settings.fill_params(),
                    settings.sizing_array(instrument), instrument.to_atoms(settings.initial_cash))
    tf_ms = timeframe_ms(series.timeframe)
    collected = _Collector(events) if events is not None else None
    book = TradeBook(instrument, collected)
    ts = series.ts
    ids = _client_ids(res.orders, ts, strategy.name, instrument.symbol)
    fills: list[FillRecord] = []
    opener = ""
    fill_rows = res.fills.tolist()
    order_rows = res.orders
    # walk the bars that have activity, in the order the per-candle engine emits: fills, endings, placements
    placed_at = order_rows[:, L_BAR] if len(order_rows) else np.zeros(0, dtype=np.int64)
    done_at = order_rows[:, L_DONE_BAR] if len(order_rows) else np.zeros(0, dtype=np.int64)
    bars = np.unique(np.concatenate((res.fills[:, F_BAR], placed_at, done_at[done_at >= 0]))).tolist()
    by_placed = np.argsort(placed_at, kind="stable").tolist()
    by_done = np.argsort(np.where(done_at >= 0, done_at, np.iinfo(np.int64).max), kind="stable").tolist()
    placed_list, done_list, rows = placed_at.tolist(), done_at.tolist(), order_rows.tolist()
    ts_list = ts.tolist()
    fi = pi = di = 0
    nf, no = len(fill_rows), len(rows)
    want_records = keep_records or events is not None
    inst = instrument
    sym = inst.symbol
    for bar in bars:
        bar_ts = ts_list[bar]
        while fi < nf and fill_rows[fi][F_BAR] == bar:
            row = fill_rows[fi]
            side, qty, px, fee = row[F_SIDE], row[F_QTY], row[F_PRICE], row[F_FEE]
            reason = REASONS[row[F_REASON]]
            oid = row[F_ORDER]
            after = row[F_POS_AFTER]
            before = after - side * qty
            cid = ids[oid - 1] if oid > 0 else f"{opener}-{PROTECTIVE_SUFFIX[reason]}"
            if before == 0 or (before > 0) != (after > 0):
                opener = cid
            if want_records:
                fills.append((bar_ts, cid, side, qty, px, fee, reason))
            if collected is not None:
                collected.emit(EventType.FILL, bar_ts, client_id=cid, symbol=sym, side="buy" if side > 0 else "sell",
                               qty=inst.steps_text(qty), price=inst.ticks_text(px), fee=inst.atoms_text(fee),
                               liquidity="maker" if row[F_MAKER] else "taker", reason=reason)
            book.on_fill_ints(bar_ts, side, qty, px, fee, reason)
            fi += 1
        while di < no and done_list[by_done[di]] == bar:
            k = by_done[di]
            status = rows[k][L_STATUS]
            if collected is not None and status in _ENDINGS:
                kind, why = _ENDINGS[status]
                collected.emit(kind, bar_ts, client_id=ids[k], symbol=sym, reason=why)
            di += 1
        while pi < no and placed_list[by_placed[pi]] == bar:
            k = by_placed[pi]
            if collected is not None:
                row = rows[k]
                collected.emit(EventType.ORDER_PLACED, bar_ts + tf_ms, client_id=ids[k], symbol=sym,
                               side="buy" if row[L_SIDE] > 0 else "sell", order_type="market",
                               qty=inst.steps_text(row[L_QTY]), price=None, stop_price=None,
                               stop_loss=inst.ticks_text(row[L_SL]) if row[L_SL] else None,
                               take_profit=inst.ticks_text(row[L_TP]) if row[L_TP] else None,
                               reduce_only=bool(row[L_REDUCE]))
            pi += 1
    if collected is not None:
        collected.flush()
    orders: list[OrderRecord] = []
    if want_records:
        orders = [(ids[k], int(r[L_SIDE]), int(r[L_QTY]), _final_status(int(r[L_STATUS]), int(r[L_FILLED])),
                   int(r[L_FILLED])) for k, r in enumerate(order_rows)]
    last = n - 1
    open_trade = book.open_trade(int(ts[last]), int(ticks.c[last]))
    return Simulation(series, instrument, "batch", res.equity_atoms, book.trades, open_trade, res.fees_atoms,
                      res.exposed_bars, fills, orders)


_ENDINGS = {ST_CANCELLED_FUNDS: (EventType.ORDER_REJECTED, "insufficient balance"),
            ST_NOTHING_TO_REDUCE: (EventType.ORDER_CANCELLED, "nothing to reduce"),
            ST_CANCELLED: (EventType.ORDER_CANCELLED, "cancelled")}


class _Collector:
    """Buffers a batch run's events and writes them in blocks (one scrub and one write per block)."""

    def __init__(self, sink: EventSink, block: int = 4096) -> None:
        self.sink = sink
        self.block = block
        self.events: list[tuple[EventType, int, dict[str, Any]]] = []
        self._emit_many = getattr(sink, "emit_many", None)

    def emit(self, type_: EventType, ts: int, **fields: Any) -> None:
        self.events.append((type_, ts, fields))
        if len(self.events) >= self.block:
            self.flush()

    def flush(self) -> None:
        if self._emit_many is not None:
            self._emit_many(self.events)
        else:
            for type_, when, fields in self.events:
                self.sink.emit(type_, when, **fields)
        self.events = []


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
    return Simulation(series, instrument, "per_candle", engine.equity_array(), engine.trades.trades,
                      open_trade, engine.fees_atoms, engine.exposed_bars, fills, orders)
