"""From a strategy's target to orders: the sizing and position logic shared by both engine paths."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import numpy.typing as npt
from numba import njit

from tradewarden.domain.instrument import Instrument

I64Array = npt.NDArray[np.int64]

SIZING_EQUITY_FRACTION = 0
SIZING_FIXED = 1
SIZING_QUOTE = 2  # a fixed quote amount per entry: its "fixed_qty" argument is that amount in atoms
SIZING_MODES = {"equity_fraction": SIZING_EQUITY_FRACTION, "fixed": SIZING_FIXED, "quote": SIZING_QUOTE}

# columns of a decided order
D_SIDE, D_QTY, D_SL, D_TP, D_REDUCE = range(5)
DECISION_FIELDS = 5
MILLION = 1_000_000


@njit(cache=True)
def entry_qty(equity: int, close: int, sizing_mode: int, fixed_qty: int, frac_ppm: int, taker: int,
              slip: int) -> int:
    """Steps to buy or sell for a new position, leaving room for fees and slippage.

    With ``SIZING_QUOTE`` the entry is worth ``fixed_qty`` atoms at the close, rounded down to a whole step
    (atoms / ticks = steps exactly); fees come on top, as they do for a fixed quantity.
    """
    if sizing_mode == SIZING_FIXED:
        return fixed_qty
    if sizing_mode == SIZING_QUOTE:
        return fixed_qty // close if close > 0 else 0
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


def sizing_mode(name: str) -> int:
    """The kernel's code for a sizing name of the config."""
    return SIZING_MODES[name]


def sizing_amount(name: str, instrument: Instrument, fixed_qty: Decimal, quote_amount: Decimal) -> int:
    """The kernel's size argument: the fixed quantity in steps, or the quote amount per entry in atoms."""
    return instrument.to_atoms(quote_amount) if name == "quote" else instrument.to_steps(fixed_qty)
