"""The portfolio's batch path: every symbol's bars in one compiled loop, over one shared cash ledger.

The loop runs the steps :mod:`tradewarden.backtest.portfolio` describes on a (symbols × steps) matrix with a
presence mask, calling the very kernels the per-candle path calls bar by bar (``process_bar`` of the fill
model and ``decide``), each symbol with its own account state whose cash is handed over from the shared
ledger (in that symbol's atoms) before its bar and whose change is booked back after it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from numba import njit

from tradewarden.backtest.core import NothingToTestError, OrderRecord, _final_status
from tradewarden.backtest.event_lines import EventLines
from tradewarden.backtest.fast import (
    L_BAR,
    L_DONE_BAR,
    L_FILLED,
    L_ID,
    L_QTY,
    L_REDUCE,
    L_SIDE,
    L_SL,
    L_STATUS,
    L_TP,
    LOG_FIELDS,
)
from tradewarden.backtest.portfolio import (
    Market,
    PortfolioSimulation,
    SymbolResult,
    align,
    missing_bars,
    new_portfolio,
)
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.backtest.walk import ORDER_ENDINGS, FillRecord
from tradewarden.domain.candles import timeframe_ms
from tradewarden.domain.events import EventType
from tradewarden.domain.orders import PROTECTIVE_SUFFIX
from tradewarden.domain.ports import EventSink
from tradewarden.domain.ticks import prices_to_ticks, series_to_ticks
from tradewarden.engine.decide import D_QTY, D_REDUCE, D_SIDE, D_SL, D_TP, DECISION_FIELDS, decide
from tradewarden.engine.ids import client_order_id
from tradewarden.engine.trades import TradeBook
from tradewarden.strategies.base import check_causal
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
    FILL_FIELDS,
    MAX_ORDERS,
    O_ACTIVE,
    O_FILLED,
    O_ID,
    O_STATUS,
    O_TYPE,
    ORDER_FIELDS,
    P_ALLOW_SHORT,
    P_SLIP,
    P_TAKER,
    REASONS,
    S_ACTIVE,
    S_CASH,
    S_EXPOSED,
    S_FEES,
    S_NEXT_ID,
    S_POS,
    S_SLOTS,
    STATE_FIELDS,
    T_MARKET,
    place_order,
    process_bar,
)

I64Array = npt.NDArray[np.int64]
F64Array = npt.NDArray[np.float64]

F_SYMBOL = FILL_FIELDS  # the extra column of a portfolio fill row: which symbol
L_SYMBOL = LOG_FIELDS   # and of an order row


@njit(cache=True)
def _run(o: I64Array, h: I64Array, lo: I64Array, c: I64Array, v: I64Array, present: npt.NDArray[np.bool_],
         target: F64Array, sl: I64Array, tp: I64Array, params: I64Array, sizing: I64Array, scale: I64Array,
         cash0: int, states: I64Array, orders: I64Array, fills: I64Array, log: I64Array, equity: I64Array,
         exposed: I64Array) -> tuple[int, int]:
    n_sym, n_steps = o.shape
    nf = 0
    nlog = 0
    cash = cash0
    buf = np.zeros((2, DECISION_FIELDS), dtype=np.int64)
    slot_row = np.full((n_sym, MAX_ORDERS), -1, dtype=np.int64)  # log row of the order in each slot
    marks = np.zeros(n_sym, dtype=np.int64)
    pending = np.zeros(n_sym, dtype=np.bool_)
    allow_short = params[P_ALLOW_SHORT]
    for t in range(n_steps):
        # 1. every symbol with a bar: its fills and endings, booked into the shared cash
        for j in range(n_sym):
            if not present[j, t]:
                continue
            state = states[j]
            slots = orders[j]
            held = cash // scale[j]
            state[S_CASH] = held
            active = state[S_ACTIVE]
            nf0 = nf
            nf = process_bar(t, o[j, t], h[j, t], lo[j, t], c[j, t], v[j, t], state, slots, params, fills, nf)
            cash += (state[S_CASH] - held) * scale[j]
            for r in range(nf0, min(nf, fills.shape[0])):
                fills[r, F_SYMBOL] = j
                oid = fills[r, F_ORDER]
                if oid > 0:  # the per-symbol order id becomes the order's row in the portfolio log (+1)
                    for k in range(state[S_SLOTS]):
                        if slots[k, O_ID] == oid:
                            fills[r, F_ORDER] = slot_row[j, k] + 1
                            break
            has_pending = False
            if active > 0:
                for k in range(state[S_SLOTS]):
                    if slots[k, O_ID] > 0 and slots[k, O_ACTIVE] == 0:  # finished this bar: close its row
                        row = slot_row[j, k]
                        if 0 <= row < log.shape[0]:
                            log[row, L_STATUS] = slots[k, O_STATUS]
                            log[row, L_FILLED] = slots[k, O_FILLED]
                            log[row, L_DONE_BAR] = t
                        slots[k, O_ID] = 0
                    elif slots[k, O_ACTIVE] == 1 and slots[k, O_TYPE] == T_MARKET:
                        has_pending = True
            pending[j] = has_pending
            marks[j] = c[j, t]
        # 2. the equity every decision of this step sizes on
        eq = cash
        open_positions = 0
        for j in range(n_sym):
            eq += states[j, S_POS] * marks[j] * scale[j]
            if states[j, S_POS] != 0:
                open_positions += 1
        equity[t] = eq
        if open_positions > 0:
            exposed[0] += 1
        # 3. the decisions, in the symbols' order
        for j in range(n_sym):
            if not present[j, t]:
                continue
            state = states[j]
            pos = state[S_POS]
            n = decide(target[j, t], sl[j, t], tp[j, t], pos, eq // scale[j] - pos * c[j, t], c[j, t], pending[j],
                       allow_short, sizing[j, 0], sizing[j, 1], sizing[j, 2], params[P_TAKER], params[P_SLIP], buf)
            for q in range(n):
                oid = place_order(state, orders[j], t, buf[q, D_SIDE], T_MARKET, buf[q, D_QTY], 0, 0, buf[q, D_SL],
                                  buf[q, D_TP], buf[q, D_REDUCE])
                if oid < 0:
                    continue
                row = nlog
                nlog += 1
                for k in range(state[S_SLOTS]):
                    if orders[j, k, O_ID] == oid:
                        slot_row[j, k] = row
                        break
                if row < log.shape[0]:
                    log[row, L_ID] = row + 1
                    log[row, L_BAR] = t
                    log[row, L_SIDE] = buf[q, D_SIDE]
                    log[row, L_QTY] = buf[q, D_QTY]
                    log[row, L_SL] = buf[q, D_SL]
                    log[row, L_TP] = buf[q, D_TP]
                    log[row, L_REDUCE] = buf[q, D_REDUCE]
                    log[row, L_STATUS] = -1  # still working at the end of the data
                    log[row, L_DONE_BAR] = -1
                    log[row, L_SYMBOL] = j
    return nf, nlog


def simulate_portfolio_batch(markets: Sequence[Market], settings: BacktestSettings, events: EventSink | None = None,
                             check_lookahead: bool = True, keep_records: bool = False) -> PortfolioSimulation:
    """The whole portfolio backtest in the compiled loop; ``events`` gets what the per-candle path emits."""
    if any(len(m.series) == 0 for m in markets):
        raise NothingToTestError("no candles to test for " + ", ".join(m.instrument.symbol for m in markets
                                                                        if len(m.series) == 0))
    al = align(markets)
    portfolio = new_portfolio(markets, settings.initial_cash)
    n_sym, n_steps = al.index.shape
    present = al.present
    o, h, lo, c, v = (np.zeros((n_sym, n_steps), dtype=np.int64) for _ in range(5))
    target = np.full((n_sym, n_steps), np.nan, dtype=np.float64)
    sl = np.zeros((n_sym, n_steps), dtype=np.int64)
    tp = np.zeros((n_sym, n_steps), dtype=np.int64)
    sizing = np.zeros((n_sym, 3), dtype=np.int64)
    for j, m in enumerate(markets):
        view = m.series.read_only()
        sig = m.strategy.signals(view)
        n = len(m.series)
        if sig.target.shape != (n,):
            raise ValueError(f"strategy {m.strategy.name} returned {sig.target.shape[0]} signals for {n} candles "
                             f"of {m.instrument.symbol}")
        if check_lookahead:
            check_causal(m.strategy, view, sig)
        cols = present[j]
        ticks = series_to_ticks(m.series, m.instrument)
        o[j, cols], h[j, cols], lo[j, cols], c[j, cols], v[j, cols] = ticks.o, ticks.h, ticks.lo, ticks.c, ticks.v
        target[j, cols] = sig.target
        sl[j, cols] = prices_to_ticks(sig.stop_loss, n, m.instrument)
        tp[j, cols] = prices_to_ticks(sig.take_profit, n, m.instrument)
        sizing[j] = settings.sizing_array(m.instrument)
    scale = np.array([portfolio.scale[m.instrument.symbol] for m in markets], dtype=np.int64)
    params = settings.fill_params()
    capacity = max(1024, present.sum() // 16)
    while True:
        states = np.zeros((n_sym, STATE_FIELDS), dtype=np.int64)
        states[:, S_NEXT_ID] = 1  # each symbol's own order ids start at 1, as its venue's do
        orders = np.zeros((n_sym, MAX_ORDERS, ORDER_FIELDS), dtype=np.int64)
        fills = np.zeros((capacity, FILL_FIELDS + 1), dtype=np.int64)
        log = np.zeros((capacity, LOG_FIELDS + 1), dtype=np.int64)
        equity = np.zeros(n_steps, dtype=np.int64)
        exposed = np.zeros(1, dtype=np.int64)
        nf, nlog = _run(o, h, lo, c, v, present, target, sl, tp, params, sizing, scale, portfolio.cash_units,
                        states, orders, fills, log, equity, exposed)
        if nf <= capacity and nlog <= capacity:
            break
        capacity = max(nf, nlog) + 1024
    walk = _Walk(markets, al.ts, events, keep_records or events is not None)
    results = walk.run(fills[:nf], log[:nlog], states, missing_bars(markets))
    return PortfolioSimulation("batch", al.ts, equity, portfolio.unit, results, int(exposed[0]))


class _Walk:
    """Turns the loop's fill and order rows into records, trades and events, in the per-candle path's order:
    per step, each symbol's fills then its order endings (symbols in order), then every symbol's placements."""

    def __init__(self, markets: Sequence[Market], ts: I64Array, events: EventSink | None, records: bool) -> None:
        self.markets = markets
        self.ts = ts.tolist()
        self.collected = EventLines(events) if events is not None else None
        self.books = [TradeBook(m.instrument, self.collected) for m in markets]
        self.records = records
        self.fills: list[list[FillRecord]] = [[] for _ in markets]

    def run(self, fills: I64Array, log: I64Array, states: I64Array, missing: list[int]) -> list[SymbolResult]:
        rows = log.tolist()
        ids = self._client_ids(rows)
        done: dict[int, list[int]] = {}
        placed: dict[int, list[int]] = {}
        for k, r in enumerate(rows):
            placed.setdefault(r[L_BAR], []).append(k)
            if r[L_DONE_BAR] >= 0:
                done.setdefault(r[L_DONE_BAR], []).append(k)
        fill_rows = fills.tolist()
        steps = sorted({r[F_BAR] for r in fill_rows} | set(done) | set(placed))
        openers = [""] * len(self.markets)
        fi, nf = 0, len(fill_rows)
        for t in steps:
            ending = sorted(done.get(t, []), key=lambda k: (rows[k][L_SYMBOL], k))
            ei = 0
            for j in range(len(self.markets)):
                while fi < nf and fill_rows[fi][F_BAR] == t and fill_rows[fi][F_SYMBOL] == j:
                    self._fill(fill_rows[fi], ids, openers)
                    fi += 1
                while ei < len(ending) and rows[ending[ei]][L_SYMBOL] == j:
                    k = ending[ei]
                    status = rows[k][L_STATUS]
                    if self.collected is not None and status in ORDER_ENDINGS:
                        kind, why = ORDER_ENDINGS[status]
                        self.collected.emit(kind, self.ts[t], client_id=ids[k],
                                            symbol=self.markets[j].instrument.symbol, reason=why)
                    ei += 1
            if self.collected is not None:
                for k in placed.get(t, []):
                    self._placed(rows[k], ids[k])
        if self.collected is not None:
            self.collected.flush()
        results: list[SymbolResult] = []
        for j, m in enumerate(self.markets):
            orders: list[OrderRecord] = []
            if self.records:
                orders = [(ids[k], int(r[L_SIDE]), int(r[L_QTY]), _final_status(int(r[L_STATUS]), int(r[L_FILLED])),
                           int(r[L_FILLED])) for k, r in enumerate(rows) if r[L_SYMBOL] == j]
            s = m.series
            last = len(s) - 1
            mark = int(np.rint(s.close[last] / float(m.instrument.tick_size)))
            open_trade = self.books[j].open_trade(int(s.ts[last]), mark)
            results.append(SymbolResult(m, self.books[j].trades.kept(), open_trade, int(states[j, S_FEES]),
                                        int(states[j, S_EXPOSED]), self.fills[j], orders, missing[j]))
        return results

    def _client_ids(self, rows: list[list[int]]) -> list[str]:
        ids: list[str] = []
        seen: dict[tuple[int, int], int] = {}
        for r in rows:
            key = (r[L_BAR], r[L_SYMBOL])
            j = seen.get(key, -1) + 1
            seen[key] = j
            m = self.markets[r[L_SYMBOL]]
            ids.append(client_order_id(m.strategy.name, m.instrument.symbol, self.ts[r[L_BAR]], j))
        return ids

    def _fill(self, row: list[int], ids: list[str], openers: list[str]) -> None:
        j = row[F_SYMBOL]
        inst = self.markets[j].instrument
        ts = self.ts[row[F_BAR]]
        side, qty, px, fee = row[F_SIDE], row[F_QTY], row[F_PRICE], row[F_FEE]
        reason = REASONS[row[F_REASON]]
        oid = row[F_ORDER]
        after = row[F_POS_AFTER]
        before = after - side * qty
        cid = ids[oid - 1] if oid > 0 else f"{openers[j]}-{PROTECTIVE_SUFFIX[reason]}"
        if before == 0 or (before > 0) != (after > 0):
            openers[j] = cid
        if self.records:
            self.fills[j].append((ts, cid, side, qty, px, fee, reason))
        if self.collected is not None:
            self.collected.emit(EventType.FILL, ts, client_id=cid, symbol=inst.symbol,
                                side="buy" if side > 0 else "sell", qty=inst.steps_text(qty),
                                price=inst.ticks_text(px), fee=inst.atoms_text(fee),
                                liquidity="maker" if row[F_MAKER] else "taker", reason=reason)
        self.books[j].on_fill_ints(ts, side, qty, px, fee, reason)

    def _placed(self, row: list[int], cid: str) -> None:
        if self.collected is None:
            return
        m = self.markets[row[L_SYMBOL]]
        inst = m.instrument
        tf_ms = timeframe_ms(m.series.timeframe)
        self.collected.emit(EventType.ORDER_PLACED, self.ts[row[L_BAR]] + tf_ms, client_id=cid, symbol=inst.symbol,
                            side="buy" if row[L_SIDE] > 0 else "sell", order_type="market",
                            qty=inst.steps_text(row[L_QTY]), price=None, stop_price=None,
                            stop_loss=inst.ticks_text(row[L_SL]) if row[L_SL] else None,
                            take_profit=inst.ticks_text(row[L_TP]) if row[L_TP] else None,
                            reduce_only=bool(row[L_REDUCE]))
