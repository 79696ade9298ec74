"""The batch path: the whole backtest in one compiled loop over the same kernels the per-candle path uses.

``process_bar`` (the fill model) and ``decide`` (sizing and position logic) are the functions the
per-candle engine and the simulated venue call bar by bar; here numba inlines them into one loop, which is
what makes a year of one-minute candles take milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

from tradewarden.engine.decide import D_QTY, D_REDUCE, D_SIDE, D_SL, D_TP, DECISION_FIELDS, decide
from tradewarden.venues.fillmodel import (
    O_ACTIVE,
    O_FILLED,
    O_ID,
    O_STATUS,
    O_TYPE,
    P_ALLOW_SHORT,
    P_SLIP,
    P_TAKER,
    S_ACTIVE,
    S_CASH,
    S_EXPOSED,
    S_FEES,
    S_POS,
    S_SLOTS,
    T_MARKET,
    new_orders,
    new_state,
    place_order,
    process_bar,
)

I64Array = npt.NDArray[np.int64]
F64Array = npt.NDArray[np.float64]

# orders log columns
L_ID, L_BAR, L_SIDE, L_QTY, L_SL, L_TP, L_REDUCE, L_STATUS, L_FILLED, L_DONE_BAR = range(10)
LOG_FIELDS = 10


@njit(cache=True, inline="always")
def _ticks(price: float, tick: float) -> int:
    return int(np.rint(price / tick))


@njit(cache=True, inline="always")
def _steps(volume: float, step: float) -> int:
    return int(np.floor(volume / step))


@njit(cache=True)
def _run(o: F64Array, h: F64Array, lo: F64Array, c: F64Array, v: F64Array, tick: float, step: float,
         target: F64Array, sl: I64Array, tp: I64Array, params: I64Array, sizing: I64Array, state: I64Array,
         orders: I64Array, fills: I64Array, log: I64Array, equity: I64Array) -> tuple[int, int]:
    nf = 0
    nlog = 0
    buf = np.zeros((2, DECISION_FIELDS), dtype=np.int64)
    allow_short = params[P_ALLOW_SHORT]
    for i in range(o.shape[0]):
        active = state[S_ACTIVE]
        # Each bar onto the grid here, as domain.ticks.series_to_ticks would do for the whole series (the
        # same IEEE division and rounding), so that no integer copy of five columns is ever held.
        ci = _ticks(c[i], tick)
        nf = process_bar(i, _ticks(o[i], tick), _ticks(h[i], tick), _ticks(lo[i], tick), ci,
                         _steps(v[i], step), state, orders, params, fills, nf)
        has_pending = False
        if active > 0:  # only bars with working orders need the slots looked at
            for k in range(state[S_SLOTS]):
                oid = orders[k, O_ID]
                if oid > 0 and orders[k, O_ACTIVE] == 0:  # finished this bar: close its log row
                    row = oid - 1
                    if row < log.shape[0]:
                        log[row, L_STATUS] = orders[k, O_STATUS]
                        log[row, L_FILLED] = orders[k, O_FILLED]
                        log[row, L_DONE_BAR] = i
                    orders[k, O_ID] = 0
                elif orders[k, O_ACTIVE] == 1 and orders[k, O_TYPE] == T_MARKET:
                    has_pending = True
        equity[i] = state[S_CASH] + state[S_POS] * ci
        n = decide(target[i], sl[i], tp[i], state[S_POS], state[S_CASH], ci, has_pending, allow_short,
                   sizing[0], sizing[1], sizing[2], params[P_TAKER], params[P_SLIP], buf)
        for j in range(n):
            oid = place_order(state, orders, i, buf[j, D_SIDE], T_MARKET, buf[j, D_QTY], 0, 0, buf[j, D_SL],
                              buf[j, D_TP], buf[j, D_REDUCE])
            row = oid - 1
            if 0 <= row < log.shape[0]:
                log[row, L_ID] = oid
                log[row, L_BAR] = i
                log[row, L_SIDE] = buf[j, D_SIDE]
                log[row, L_QTY] = buf[j, D_QTY]
                log[row, L_SL] = buf[j, D_SL]
                log[row, L_TP] = buf[j, D_TP]
                log[row, L_REDUCE] = buf[j, D_REDUCE]
                log[row, L_STATUS] = -1  # still working at the end of the data
                log[row, L_DONE_BAR] = -1
            nlog = oid
    return nf, nlog


@dataclass
class BatchResult:
    fills: I64Array        # rows of venues.fillmodel F_* columns
    orders: I64Array       # rows of L_* columns, one per order id (id = row + 1)
    equity_atoms: I64Array  # account value at each bar's close
    state: I64Array        # final account state (S_* columns)

    @property
    def fees_atoms(self) -> int:
        return int(self.state[S_FEES])

    @property
    def exposed_bars(self) -> int:
        return int(self.state[S_EXPOSED])


def run_batch(o: F64Array, h: F64Array, lo: F64Array, c: F64Array, v: F64Array, tick: float, step: float,
              target: F64Array, sl: I64Array, tp: I64Array, params: I64Array, sizing: I64Array,
              cash_atoms: int) -> BatchResult:
    """Run the compiled loop over candle prices and volumes (floats, put on the ``tick``/``step`` grid bar
    by bar); the fill and order buffers grow until they are large enough."""
    n = o.shape[0]
    capacity = max(1024, n // 16)
    while True:
        state = new_state(cash_atoms)
        orders = new_orders()
        fills = np.zeros((capacity, 9), dtype=np.int64)
        log = np.zeros((capacity, LOG_FIELDS), dtype=np.int64)
        equity = np.zeros(n, dtype=np.int64)
        nf, nlog = _run(o, h, lo, c, v, tick, step, target, sl, tp, params, sizing, state, orders, fills, log,
                        equity)
        if nf <= capacity and nlog <= capacity:
            return BatchResult(fills[:nf], log[:nlog], equity, state)
        capacity = max(nf, nlog) + 1024
