"""After the compiled loop: the bars with activity walked in the order the per-candle engine reports them.

For each such bar, in order: its fills (each into the trade book, and a ``Fill`` event), the orders that
ended on it (``OrderRejected``/``OrderCancelled``), the orders placed at its close (``OrderPlaced``, stamped
with the next bar's open). The bars are taken a few thousand at a time, and only that block's rows are
turned into Python values and text: a year of one-minute candles has tens of thousands of fills and
orders, and holding all of them as Python objects at once cost more memory than the candles themselves.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tradewarden.backtest.event_lines import EventLines, grid_texts, iso_times, json_text
from tradewarden.backtest.fast import L_BAR, L_DONE_BAR, L_QTY, L_REDUCE, L_SIDE, L_SL, L_STATUS, L_TP
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import PROTECTIVE_SUFFIX
from tradewarden.engine.trades import TradeBook
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
    ST_NOTHING_TO_REDUCE,
)

I64Array = npt.NDArray[np.int64]
# (ts, client_id, side, qty steps, price ticks, fee atoms, reason)
FillRecord = tuple[int, str, int, int, int, int, str]

BLOCK_BARS = 1024
#: how an order that never filled whole ended: its event and reason (both batch loops report them alike)
ORDER_ENDINGS = {ST_CANCELLED_FUNDS: (EventType.ORDER_REJECTED, "insufficient balance"),
                 ST_NOTHING_TO_REDUCE: (EventType.ORDER_CANCELLED, "nothing to reduce"),
                 ST_CANCELLED: (EventType.ORDER_CANCELLED, "cancelled")}
_NEVER = np.iinfo(np.int64).max


def walk_activity(fills: I64Array, orders: I64Array, ts: I64Array, timeframe_ms: int, ids: list[str],
                  instrument: Instrument, book: TradeBook, lines: EventLines | None,
                  want_records: bool) -> list[FillRecord]:
    """Feed the fills to ``book`` and the events to ``lines`` (when given); return the fill records when
    ``want_records``. ``fills`` are the kernel's fill rows (in bar order), ``orders`` its order log."""
    placed_at = orders[:, L_BAR]
    done_at = np.where(orders[:, L_DONE_BAR] >= 0, orders[:, L_DONE_BAR], _NEVER)
    by_placed = np.argsort(placed_at, kind="stable")
    by_done = np.argsort(done_at, kind="stable")
    placed_sorted, done_sorted = placed_at[by_placed], done_at[by_done]
    active = np.unique(np.concatenate((fills[:, F_BAR], placed_at, done_at[done_at != _NEVER])))
    fill_bars = fills[:, F_BAR]
    inst = instrument
    sym = json_text(inst.symbol)
    records: list[FillRecord] = []
    opener = ""
    for start in range(0, active.shape[0], BLOCK_BARS):
        block = active[start:start + BLOCK_BARS]
        edges = (block[0], block[-1] + 1)
        f0, f1 = np.searchsorted(fill_bars, edges).tolist()
        p0, p1 = np.searchsorted(placed_sorted, edges).tolist()
        d0, d1 = np.searchsorted(done_sorted, edges).tolist()
        fill_rows = fills[f0:f1].tolist()
        placed_k, done_k = by_placed[p0:p1], by_done[d0:d1]
        placed_rows = orders[placed_k].tolist()
        placed_bars, placed_ids = placed_sorted[p0:p1].tolist(), placed_k.tolist()
        done_bars, done_ids = done_sorted[d0:d1].tolist(), done_k.tolist()
        done_status = orders[done_k, L_STATUS].tolist()
        bars, times = block.tolist(), ts[block].tolist()
        if lines is not None:  # the numbers and times of the block's events as text, in bulk
            iso_bar, iso_next = iso_times(ts[block]), iso_times(ts[block] + timeframe_ms)
            fill_qty = grid_texts(fills[f0:f1, F_QTY], inst.step_size)
            fill_px = grid_texts(fills[f0:f1, F_PRICE], inst.tick_size)
            fill_fee = grid_texts(fills[f0:f1, F_FEE], inst.atom)
            order_qty = grid_texts(orders[placed_k, L_QTY], inst.step_size)
            order_sl = grid_texts(orders[placed_k, L_SL], inst.tick_size)
            order_tp = grid_texts(orders[placed_k, L_TP], inst.tick_size)
        fi = pi = di = 0
        nf, npl, nd = len(fill_rows), len(placed_rows), len(done_ids)
        for b, bar in enumerate(bars):
            bar_ts = times[b]
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
                    records.append((bar_ts, cid, side, qty, px, fee, reason))
                if lines is not None:
                    lines.add(bar_ts, iso_bar[b],
                              f'"type":"Fill","client_id":"{cid}","symbol":{sym},'
                              f'"side":"{"buy" if side > 0 else "sell"}","qty":"{fill_qty[fi]}",'
                              f'"price":"{fill_px[fi]}","fee":"{fill_fee[fi]}",'
                              f'"liquidity":"{"maker" if row[F_MAKER] else "taker"}","reason":"{reason}"')
                book.on_fill_ints(bar_ts, side, qty, px, fee, reason)
                fi += 1
            while di < nd and done_bars[di] == bar:
                status = done_status[di]
                if lines is not None and status in ORDER_ENDINGS:
                    kind, why = ORDER_ENDINGS[status]
                    lines.add(bar_ts, iso_bar[b],
                              f'"type":"{kind}","client_id":"{ids[done_ids[di]]}","symbol":{sym},"reason":"{why}"')
                di += 1
            while pi < npl and placed_bars[pi] == bar:
                if lines is not None:
                    row = placed_rows[pi]
                    stop_loss = f'"{order_sl[pi]}"' if row[L_SL] else "null"
                    take_profit = f'"{order_tp[pi]}"' if row[L_TP] else "null"
                    lines.add(bar_ts + timeframe_ms, iso_next[b],
                              f'"type":"OrderPlaced","client_id":"{ids[placed_ids[pi]]}","symbol":{sym},'
                              f'"side":"{"buy" if row[L_SIDE] > 0 else "sell"}","order_type":"market",'
                              f'"qty":"{order_qty[pi]}","price":null,"stop_price":null,"stop_loss":{stop_loss},'
                              f'"take_profit":{take_profit},"reduce_only":{"true" if row[L_REDUCE] else "false"}')
                pi += 1
    if lines is not None:
        lines.flush()
    return records
