"""The one simulated fill model, as a numba kernel on integers.

Units: prices in ticks, quantities in steps, money in *atoms* (one tick times one step, e.g. 1e-7 USDT
for BTC/USDT), fees and slippage in hundredths of a basis point (``cbps``; 10 bps = 1000 cbps).

Within one bar the kernel works in this order, which is documented in docs/FILL_MODEL.md:

1. market orders placed on an earlier bar fill at this bar's open, plus slippage (taker fee);
2. the position's protective exits: stop-loss (and trailing stop) and take-profit. A gap through a level
   fills at the open. When one bar touches both the stop and the take-profit, the stop wins (pessimistic,
   since the order of prices inside the bar is unknown). Stops are taker with slippage, take-profits maker;
3. working limit, stop-market and stop-limit orders, in the order they were placed: a buy limit fills at
   the limit (or at the open when the open is already below it), maker; a stop-market triggers when the
   bar trades through the stop and fills at the stop (or the open on a gap) plus slippage, taker; a
   stop-limit triggers like a stop and then fills as a taker at the trigger price if that is within its
   limit, otherwise it rests as a limit order from the next bar on;
4. the trailing stop moves with the bar's best price, only ever in the position's favour (after the
   checks above, so a bar cannot raise the stop and then hit it in the same breath).

Every fill is capped by the bar's remaining volume budget (``volume_fraction`` of its volume); what is not
filled stays working for later bars. No fill price ever lies outside the bar's low..high. Buys that are not
short covers are clipped to the cash available (spot has no credit); shorts, where enabled, need no margin.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

I64Array = npt.NDArray[np.int64]

# -- order slots ------------------------------------------------------------------------------
O_ACTIVE, O_ID, O_SIDE, O_TYPE, O_QTY, O_LIMIT, O_STOP, O_TRIGGERED, O_SL, O_TP, O_REDUCE, O_PLACED, O_FILLED, \
    O_STATUS = range(14)
ORDER_FIELDS = 14
MAX_ORDERS = 32

T_MARKET, T_LIMIT, T_STOP_MARKET, T_STOP_LIMIT = 0, 1, 2, 3
# status codes of a slot (O_STATUS) once it is no longer active
ST_WORKING, ST_FILLED, ST_CANCELLED_FUNDS, ST_CANCELLED, ST_NOTHING_TO_REDUCE = 0, 1, 2, 3, 4

# -- account state ----------------------------------------------------------------------------
S_POS, S_CASH, S_FEES, S_SL, S_TP, S_TRAIL_PX, S_NEXT_ID, S_EXPOSED, S_CAP, S_ACTIVE, S_SLOTS = range(11)
STATE_FIELDS = 11  # S_CAP: volume budget left in this bar; S_ACTIVE: working orders; S_SLOTS: slots in use

# -- parameters -------------------------------------------------------------------------------
P_TAKER, P_MAKER, P_SLIP, P_VOL_PPM, P_ALLOW_SHORT, P_SL_CBPS, P_TP_CBPS, P_TRAIL_CBPS = range(8)
PARAM_FIELDS = 8

# -- fills ------------------------------------------------------------------------------------
F_BAR, F_ORDER, F_SIDE, F_QTY, F_PRICE, F_FEE, F_REASON, F_MAKER, F_POS_AFTER = range(9)
FILL_FIELDS = 9
R_ORDER, R_STOP_LOSS, R_TAKE_PROFIT, R_TRAILING = 0, 1, 2, 3
REASONS = ("order", "stop_loss", "take_profit", "trailing_stop")

MILLION = 1_000_000
NO_CAP = np.int64(2**62)


def new_state(cash_atoms: int) -> I64Array:
    state = np.zeros(STATE_FIELDS, dtype=np.int64)
    state[S_CASH] = cash_atoms
    state[S_NEXT_ID] = 1
    return state


def new_orders() -> I64Array:
    return np.zeros((MAX_ORDERS, ORDER_FIELDS), dtype=np.int64)


@njit(cache=True, inline="always")
def _slip(px: int, side: int, slip: int, lo: int, hi: int) -> int:
    """Price after slippage against the trader, kept within the bar's range."""
    if side > 0:
        out = (px * (MILLION + slip) + MILLION - 1) // MILLION
        return out if out < hi else hi
    out = (px * (MILLION - slip)) // MILLION
    return out if out > lo else lo


@njit(cache=True, inline="always")
def fee_of(notional: int, cbps: int) -> int:
    """Fee in atoms, rounded half up (fees are never negative)."""
    return (notional * cbps + MILLION // 2) // MILLION


@njit(cache=True)
def _book(state: I64Array, fills: I64Array, nf: int, bar: int, oid: int, side: int, qty: int, px: int,
          fee_cbps: int, reason: int, maker: int, sl: int, tp: int, params: I64Array) -> int:
    """Apply one fill to the account and record it; returns the new fill count."""
    notional = px * qty
    fee = fee_of(notional, fee_cbps)
    before = state[S_POS]
    if side > 0:
        state[S_CASH] -= notional + fee
    else:
        state[S_CASH] += notional - fee
    state[S_FEES] += fee
    after = before + side * qty
    state[S_POS] = after
    if after == 0:
        state[S_SL] = 0
        state[S_TP] = 0
        state[S_TRAIL_PX] = 0
    elif before == 0 or (before > 0) != (after > 0):
        # a new position (or a flip): its protective levels come from the order or the defaults
        d = 1 if after > 0 else -1
        state[S_SL] = sl
        state[S_TP] = tp
        if sl == 0 and params[P_SL_CBPS] > 0:
            state[S_SL] = (px * (MILLION - d * params[P_SL_CBPS])) // MILLION
        if tp == 0 and params[P_TP_CBPS] > 0:
            state[S_TP] = (px * (MILLION + d * params[P_TP_CBPS])) // MILLION
        state[S_TRAIL_PX] = 0
        if params[P_TRAIL_CBPS] > 0:
            state[S_TRAIL_PX] = (px * (MILLION - d * params[P_TRAIL_CBPS])) // MILLION
    if nf < fills.shape[0]:
        row = fills[nf]
        row[F_BAR] = bar
        row[F_ORDER] = oid
        row[F_SIDE] = side
        row[F_QTY] = qty
        row[F_PRICE] = px
        row[F_FEE] = fee
        row[F_REASON] = reason
        row[F_MAKER] = maker
        row[F_POS_AFTER] = after
    return nf + 1


@njit(cache=True, inline="always")
def _retire(state: I64Array, orders: I64Array, k: int, status: int) -> None:
    orders[k, O_ACTIVE] = 0
    orders[k, O_STATUS] = status
    state[S_ACTIVE] -= 1


@njit(cache=True)
def _affordable(state: I64Array, side: int, qty: int, px: int, fee_cbps: int) -> int:
    """Clip a buy that opens or adds to a long to the cash available; sells and short covers pass."""
    if side < 0 or state[S_POS] < 0:
        return qty
    cash = state[S_CASH]
    if cash <= 0:
        return 0
    need = px * qty + fee_of(px * qty, fee_cbps)
    if need <= cash:
        return qty
    q = int(cash / (px * (1.0 + fee_cbps / MILLION)))
    while q > 0 and px * q + fee_of(px * q, fee_cbps) > cash:
        q -= 1
    return q


@njit(cache=True)
def _fill_order(state: I64Array, orders: I64Array, k: int, fills: I64Array, nf: int, bar: int, px: int,
                fee_cbps: int, maker: int, params: I64Array) -> int:
    side = orders[k, O_SIDE]
    qty = orders[k, O_QTY]
    if orders[k, O_REDUCE] == 1:
        pos = state[S_POS]
        reducible = -pos if side > 0 else pos  # what this side can reduce
        if reducible <= 0:
            _retire(state, orders, k, ST_NOTHING_TO_REDUCE)
            return nf
        if qty > reducible:
            qty = reducible
    if params[P_ALLOW_SHORT] == 0 and side < 0:
        held = state[S_POS] if state[S_POS] > 0 else 0
        if qty > held:
            qty = held
        if qty == 0:
            _retire(state, orders, k, ST_NOTHING_TO_REDUCE)
            return nf
    if qty > state[S_CAP]:
        qty = state[S_CAP]
    if qty <= 0:
        return nf  # no volume left in this bar: keep working
    wanted = qty
    qty = _affordable(state, side, qty, px, fee_cbps)
    if qty <= 0:
        _retire(state, orders, k, ST_CANCELLED_FUNDS)
        return nf
    short_of_cash = qty < wanted
    state[S_CAP] -= qty
    nf = _book(state, fills, nf, bar, orders[k, O_ID], side, qty, px, fee_cbps, R_ORDER, maker,
               orders[k, O_SL], orders[k, O_TP], params)
    orders[k, O_FILLED] += qty
    orders[k, O_QTY] -= qty
    if orders[k, O_REDUCE] == 1 and orders[k, O_QTY] > 0 and state[S_POS] == 0:
        # the position is gone: the rest of a reduce-only order has nothing to do
        _retire(state, orders, k, ST_NOTHING_TO_REDUCE)
        return nf
    if orders[k, O_QTY] == 0:
        _retire(state, orders, k, ST_FILLED)
    elif short_of_cash:  # what the cash could buy was bought; the rest is cancelled, not kept waiting
        _retire(state, orders, k, ST_CANCELLED_FUNDS)
    return nf


@njit(cache=True)
def process_bar(bar: int, o: int, h: int, lo: int, c: int, vol: int, state: I64Array, orders: I64Array,
                params: I64Array, fills: I64Array, nf: int) -> int:
    """Advance the simulated venue over one bar; returns the new number of fills written to ``fills``."""
    taker = params[P_TAKER]
    maker = params[P_MAKER]
    slip = params[P_SLIP]
    state[S_CAP] = NO_CAP if params[P_VOL_PPM] <= 0 else (vol * params[P_VOL_PPM]) // MILLION
    slots = state[S_SLOTS] if state[S_ACTIVE] > 0 else 0

    # 1. market orders at the open
    for k in range(slots):
        if orders[k, O_ACTIVE] == 1 and orders[k, O_TYPE] == T_MARKET and orders[k, O_PLACED] < bar:
            px = _slip(o, orders[k, O_SIDE], slip, lo, h)
            nf = _fill_order(state, orders, k, fills, nf, bar, px, taker, 0, params)

    # 2. protective exits of the position
    pos = state[S_POS]
    if pos != 0:
        d = 1 if pos > 0 else -1
        stop = state[S_SL]
        reason = R_STOP_LOSS
        trail = state[S_TRAIL_PX]
        if trail != 0 and (stop == 0 or (d > 0 and trail > stop) or (d < 0 and trail < stop)):
            stop = trail
            reason = R_TRAILING
        tp = state[S_TP]
        exit_px = 0
        exit_reason = -1
        exit_maker = 0
        if stop != 0 and ((d > 0 and o <= stop) or (d < 0 and o >= stop)):
            exit_px, exit_reason = _slip(o, -d, slip, lo, h), reason
        elif tp != 0 and ((d > 0 and o >= tp) or (d < 0 and o <= tp)):
            exit_px, exit_reason, exit_maker = o, R_TAKE_PROFIT, 1
        elif stop != 0 and ((d > 0 and lo <= stop) or (d < 0 and h >= stop)):
            exit_px, exit_reason = _slip(stop, -d, slip, lo, h), reason
        elif tp != 0 and ((d > 0 and h >= tp) or (d < 0 and lo <= tp)):
            exit_px, exit_reason, exit_maker = tp, R_TAKE_PROFIT, 1
        if exit_reason >= 0:
            qty = pos if pos > 0 else -pos
            if qty > state[S_CAP]:
                qty = state[S_CAP]
            if qty > 0:
                state[S_CAP] -= qty
                nf = _book(state, fills, nf, bar, 0, -d, qty, exit_px, maker if exit_maker == 1 else taker,
                           exit_reason, exit_maker, 0, 0, params)

    # 3. working limit and stop orders
    for k in range(slots):
        if orders[k, O_ACTIVE] != 1 or orders[k, O_PLACED] >= bar or orders[k, O_TYPE] == T_MARKET:
            continue
        side = orders[k, O_SIDE]
        typ = orders[k, O_TYPE]
        if typ == T_LIMIT or (typ == T_STOP_LIMIT and orders[k, O_TRIGGERED] == 1):
            lim = orders[k, O_LIMIT]
            if side > 0 and lo <= lim:
                nf = _fill_order(state, orders, k, fills, nf, bar, o if o < lim else lim, maker, 1, params)
            elif side < 0 and h >= lim:
                nf = _fill_order(state, orders, k, fills, nf, bar, o if o > lim else lim, maker, 1, params)
            continue
        stop_px = orders[k, O_STOP]
        trig = 0
        if side > 0 and o >= stop_px:
            trig = o
        elif side > 0 and h >= stop_px:
            trig = stop_px
        elif side < 0 and o <= stop_px:
            trig = o
        elif side < 0 and lo <= stop_px:
            trig = stop_px
        if trig == 0:
            continue
        if typ == T_STOP_MARKET:
            nf = _fill_order(state, orders, k, fills, nf, bar, _slip(trig, side, slip, lo, h), taker, 0, params)
        else:
            orders[k, O_TRIGGERED] = 1
            lim = orders[k, O_LIMIT]
            if (side > 0 and trig <= lim) or (side < 0 and trig >= lim):
                nf = _fill_order(state, orders, k, fills, nf, bar, trig, taker, 0, params)

    # 4. trailing stop follows the best price of the bar
    pos = state[S_POS]
    if pos != 0 and params[P_TRAIL_CBPS] > 0:
        if pos > 0:
            level = (h * (MILLION - params[P_TRAIL_CBPS])) // MILLION
            if level > state[S_TRAIL_PX]:
                state[S_TRAIL_PX] = level
        else:
            level = (lo * (MILLION + params[P_TRAIL_CBPS]) + MILLION - 1) // MILLION
            if state[S_TRAIL_PX] == 0 or level < state[S_TRAIL_PX]:
                state[S_TRAIL_PX] = level
    if state[S_POS] != 0:
        state[S_EXPOSED] += 1
    return nf


@njit(cache=True)
def place_order(state: I64Array, orders: I64Array, bar: int, side: int, typ: int, qty: int, limit: int,
                stop: int, sl: int, tp: int, reduce: int) -> int:
    """Put an order into a free slot; returns its id, or -1 when every slot is busy."""
    for k in range(orders.shape[0]):
        if orders[k, O_ACTIVE] == 0:
            oid = state[S_NEXT_ID]
            state[S_NEXT_ID] = oid + 1
            orders[k, :] = 0
            orders[k, O_ACTIVE] = 1
            orders[k, O_ID] = oid
            orders[k, O_SIDE] = side
            orders[k, O_TYPE] = typ
            orders[k, O_QTY] = qty
            orders[k, O_LIMIT] = limit
            orders[k, O_STOP] = stop
            orders[k, O_SL] = sl
            orders[k, O_TP] = tp
            orders[k, O_REDUCE] = reduce
            orders[k, O_PLACED] = bar
            state[S_ACTIVE] += 1
            if k + 1 > state[S_SLOTS]:
                state[S_SLOTS] = k + 1
            return int(oid)
    return -1


@njit(cache=True)
def cancel_order(state: I64Array, orders: I64Array, oid: int) -> bool:
    for k in range(orders.shape[0]):
        if orders[k, O_ACTIVE] == 1 and orders[k, O_ID] == oid:
            _retire(state, orders, k, ST_CANCELLED)
            return True
    return False
