"""From a strategy's target to orders: the sizing and position logic shared by both engine paths."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

I64Array = npt.NDArray[np.int64]

SIZING_EQUITY_FRACTION = 0
SIZING_FIXED = 1

# columns of a decided order
D_SIDE, D_QTY, D_SL, D_TP, D_REDUCE = range(5)
DECISION_FIELDS = 5
MILLION = 1_000_000


@njit(cache=True)
def entry_qty(equity: int, close: int, sizing_mode: int, fixed_qty: int, frac_ppm: int, taker: int,
              slip: int) -> int:
    """Steps to buy or sell for a new position, leaving room for fees and slippage."""
    if sizing_mode == SIZING_FIXED:
        return fixed_qty
    if equity <= 0 or close <= 0:
        return 0
    budget = equity * (frac_ppm / MILLION)
    return int(budget / (close * (1.0 + (taker + slip) / MILLION)))


@njit(cache=True)
def decide(target: float, sl: int, tp: int, pos: int, cash: int, close: int, has_pending: bool,
           allow_short: int, sizing_mode: int, fixed_qty: int, frac_ppm: int, taker: int, slip: int,
           out: I64Array) -> int:
    """Write the orders that move ``pos`` toward ``target`` into ``out``; return how many.

    NaN keeps the position. While an earlier market order is still working (volume cap), nothing new is
    decided, so a slow fill is never doubled. A flip is an exit (reduce-only) followed by a new entry.
    """
    if math.isnan(target) or has_pending:
        return 0
    want = 1 if target > 0 else (-1 if target < 0 else 0)
    if want < 0 and allow_short == 0:
        want = 0
    have = 1 if pos > 0 else (-1 if pos < 0 else 0)
    if want == have:
        return 0
    n = 0
    if pos != 0:
        out[n, D_SIDE] = -have
        out[n, D_QTY] = pos if pos > 0 else -pos
        out[n, D_SL] = 0
        out[n, D_TP] = 0
        out[n, D_REDUCE] = 1
        n += 1
    if want != 0:
        qty = entry_qty(cash + pos * close, close, sizing_mode, fixed_qty, frac_ppm, taker, slip)
        if qty > 0:
            out[n, D_SIDE] = want
            out[n, D_QTY] = qty
            out[n, D_SL] = sl
            out[n, D_TP] = tp
            out[n, D_REDUCE] = 0
            n += 1
    return n


def decision_buffer() -> I64Array:
    return np.zeros((2, DECISION_FIELDS), dtype=np.int64)
