"""The simulated venue: the fill model behind the :class:`~tradewarden.domain.ports.Venue` interface.

The per-candle engine (backtest per-candle path, paper trading) submits orders here; on every closed
candle the venue runs the same kernel the batch backtest runs and reports fills and status changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from tradewarden.domain.candles import Candle
from tradewarden.domain.instrument import Instrument, Rounding
from tradewarden.domain.orders import PROTECTIVE_SUFFIX, Order, OrderSide, OrderStatus, OrderType
from tradewarden.domain.portfolio import Fill
from tradewarden.domain.ports import OrderUpdate
from tradewarden.domain.ticks import candle_to_ticks
from tradewarden.venues.fillmodel import (
    F_FEE,
    F_MAKER,
    F_ORDER,
    F_POS_AFTER,
    F_PRICE,
    F_QTY,
    F_REASON,
    F_SIDE,
    FILL_FIELDS,
    O_ACTIVE,
    O_ID,
    O_STATUS,
    REASONS,
    S_CASH,
    ST_CANCELLED_FUNDS,
    ST_FILLED,
    ST_NOTHING_TO_REDUCE,
    T_LIMIT,
    T_MARKET,
    T_STOP_LIMIT,
    T_STOP_MARKET,
    cancel_order,
    new_orders,
    new_state,
    place_order,
    process_bar,
)
from tradewarden.venues.params import FillSettings

_TYPES = {OrderType.MARKET: T_MARKET, OrderType.LIMIT: T_LIMIT, OrderType.STOP_MARKET: T_STOP_MARKET,
          OrderType.STOP_LIMIT: T_STOP_LIMIT}


class SimulatedVenue:
    """An account at a simulated exchange for one instrument."""

    def __init__(self, instrument: Instrument, settings: FillSettings, cash: Decimal) -> None:
        self.instrument = instrument
        self.params = settings.to_params()
        self.state = new_state(instrument.to_atoms(cash))
        self.orders = new_orders()
        self._fills = np.zeros((64, FILL_FIELDS), dtype=np.int64)
        self._bar = -1
        self._ts = 0
        self._by_kernel_id: dict[int, str] = {}
        self._position_opener = ""
        self._pending: list[OrderUpdate] = []

    def submit(self, order: Order) -> None:
        inst = self.instrument

        def ticks(price: Decimal | None) -> int:
            return 0 if price is None else inst.to_ticks(price, Rounding.NEAREST)

        oid = place_order(
            self.state, self.orders, self._bar, order.side.sign, _TYPES[order.type], inst.to_steps(order.qty),
            ticks(order.price), ticks(order.stop_price), ticks(order.stop_loss), ticks(order.take_profit),
            int(order.reduce_only),
        )
        if oid < 0:
            self._pending.append(OrderUpdate(order.client_id, OrderStatus.REJECTED.value,
                                             reason="too many working orders"))
            return
        self._by_kernel_id[int(oid)] = order.client_id
        self._pending.append(OrderUpdate(order.client_id, OrderStatus.ACCEPTED.value))

    def cancel(self, client_id: str) -> None:
        for oid, cid in self._by_kernel_id.items():
            if cid == client_id and cancel_order(self.state, self.orders, oid):
                self._pending.append(OrderUpdate(client_id, OrderStatus.CANCELLED.value, reason="cancelled"))
                return

    def set_cash_atoms(self, atoms: int) -> None:
        """Make the account's cash ``atoms`` before a bar: a portfolio's venues all spend one shared ledger,
        which the portfolio hands each one (in its atoms) right before its bar is processed."""
        self.state[S_CASH] = atoms

    def poll(self) -> Sequence[OrderUpdate]:
        out, self._pending = self._pending, []
        return out

    def on_candle(self, candle: Candle) -> Sequence[OrderUpdate]:
        self._bar += 1
        self._ts = candle.ts
        o, h, lo, c, v = candle_to_ticks(candle, self.instrument)
        active_before = set(self.orders[self.orders[:, O_ACTIVE] == 1, O_ID].tolist())
        nf = process_bar(self._bar, o, h, lo, c, v, self.state, self.orders, self.params, self._fills, 0)
        updates = list(self.poll())
        for row in self._fills[:nf]:
            updates.append(self._fill_update(row, candle.ts))
        if active_before:
            now_active = set(self.orders[self.orders[:, O_ACTIVE] == 1, O_ID].tolist())
            for r in self.orders:
                oid = int(r[O_ID])
                if oid in active_before and oid not in now_active and oid in self._by_kernel_id:
                    status = int(r[O_STATUS])
                    cid = self._by_kernel_id.pop(oid)
                    if status == ST_CANCELLED_FUNDS:
                        updates.append(OrderUpdate(cid, OrderStatus.CANCELLED.value, reason="insufficient balance"))
                    elif status == ST_NOTHING_TO_REDUCE:
                        updates.append(OrderUpdate(cid, OrderStatus.CANCELLED.value, reason="nothing to reduce"))
                    elif status != ST_FILLED:
                        updates.append(OrderUpdate(cid, OrderStatus.CANCELLED.value, reason="cancelled"))
        return updates

    def _fill_update(self, row: np.ndarray, ts: int) -> OrderUpdate:
        inst = self.instrument
        reason = REASONS[int(row[F_REASON])]
        kernel_id = int(row[F_ORDER])
        if kernel_id == 0:  # a protective exit the venue made on the position's behalf
            cid = f"{self._position_opener}-{PROTECTIVE_SUFFIX[reason]}"
        else:
            cid = self._by_kernel_id.get(kernel_id, f"unknown-{kernel_id}")
        side = OrderSide.BUY if row[F_SIDE] > 0 else OrderSide.SELL
        fill = Fill(ts, cid, inst.symbol, side, inst.from_steps(int(row[F_QTY])), inst.from_ticks(int(row[F_PRICE])),
                    inst.from_atoms(int(row[F_FEE])), "maker" if row[F_MAKER] else "taker", reason)
        pos_after = int(row[F_POS_AFTER])
        pos_before = pos_after - int(row[F_SIDE]) * int(row[F_QTY])
        if pos_before == 0 or (pos_before > 0) != (pos_after > 0):
            self._position_opener = cid
        status = OrderStatus.FILLED.value
        if kernel_id in self._by_kernel_id and self._is_active(kernel_id):
            status = OrderStatus.PARTIALLY_FILLED.value
        return OrderUpdate(cid, status, fill=fill, reason=reason if kernel_id == 0 else "")

    def _is_active(self, kernel_id: int) -> bool:
        return any(int(r[O_ID]) == kernel_id and r[O_ACTIVE] == 1 for r in self.orders)

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state.tolist(), "orders": self.orders.tolist(), "bar": self._bar,
                "by_kernel_id": {str(k): v for k, v in self._by_kernel_id.items()},
                "opener": self._position_opener}

    def restore(self, data: dict[str, Any]) -> None:
        self.state = np.array(data["state"], dtype=np.int64)
        self.orders = np.array(data["orders"], dtype=np.int64)
        self._bar = int(data["bar"])
        self._by_kernel_id = {int(k): str(v) for k, v in data["by_kernel_id"].items()}
        self._position_opener = str(data["opener"])

    @property
    def bar(self) -> int:
        return self._bar
