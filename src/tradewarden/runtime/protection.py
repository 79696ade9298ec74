"""Protective exits on a real exchange: the live counterpart of the fill model's stop-loss, take-profit and
trailing stop (docs/FILL_MODEL.md), so a live position is protected even while the bot is down.

In paper mode the simulated venue applies these levels inside every bar. On an exchange the bot keeps one
stop order working for the whole position, checked at every candle close:

* **stop-loss**: a ``STOP_LOSS_LIMIT`` sell of the position (its whole lot steps) triggered at the level the
  entry order carried (the strategy's ``stop_loss``), else at entry × (1 − ``stop_loss_pct``). Its limit sits
  ``runtime.stop_limit_offset_pct`` below the trigger, so in a falling market it fills like a stop-market
  that cannot fill worse than that.
* **trailing stop**: highest high since entry × (1 − ``trailing_stop_pct``). The working stop is replaced
  (cancelled, then placed again) when the level rises; it never moves down. With both, the higher wins.
* **take-profit**: on spot the same coins cannot be locked by a second order (Binance would need an OCO
  order list, which the simulator does not speak), so the bot watches the level itself: at the close of a
  candle whose high reached it, it cancels the stop and sells the position at market.

Every protective order goes through the engine (the risk gate, which lets reduce-only orders through, and
the store, which records the intent before it is sent). Its client id is the deterministic id of the candle
that placed it plus ``-sl``/``-ts``/``-tp``, so its fills are booked with that reason and, stored like any
open order, it is followed again after a restart. Long positions only: spot has no shorts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradewarden.domain.candles import Candle
from tradewarden.domain.instrument import Rounding
from tradewarden.domain.orders import (
    PROTECTIVE_SUFFIX,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    protective_reason,
)
from tradewarden.engine.ids import client_order_id

HUNDRED = Decimal(100)
# the id's order number for protective orders (the strategy's own use 0 and 1): a stop and a market exit
# may both come from one candle (a stop the exchange refuses because the price already crossed it)
_STOP_SLOT, _EXIT_SLOT = 7, 8


@dataclass(frozen=True)
class ProtectionSettings:
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    trailing_stop_pct: float | None = None
    stop_limit_offset_pct: float = 0.5

    @property
    def active(self) -> bool:
        return any(p for p in (self.stop_loss_pct, self.take_profit_pct, self.trailing_stop_pct))


def is_protective(order: Order) -> bool:
    return protective_reason(order.client_id) != "order"


def _pct(value: float | None) -> Decimal | None:
    return Decimal(str(value)) / HUNDRED if value else None


class LiveProtection:
    """Keeps the exchange-side protection of one engine's position in line with its levels."""

    def __init__(self, settings: ProtectionSettings) -> None:
        self.settings = settings
        self.entry_sl: Decimal | None = None   # the levels the latest entry order carried
        self.entry_tp: Decimal | None = None
        self.best_high: Decimal | None = None  # since the position opened (trailing stop)

    # -- hooks -----------------------------------------------------------------------------------------
    def before_submit(self, engine: Any, order: Order) -> None:
        """Called for every order about to be sent: note an entry's levels; free the position's coins from
        the stop before any other sell (spot locks them in the stop order)."""
        if is_protective(order):
            return
        if not order.reduce_only and order.side is OrderSide.BUY:
            self.entry_sl, self.entry_tp = order.stop_loss, order.take_profit
            return
        if order.side is OrderSide.SELL:
            self._cancel_working(engine)

    def sync(self, engine: Any, candle: Candle) -> None:
        """After the engine's step on ``candle``: place, replace or withdraw the protective stop."""
        inst = engine.instrument
        working = self._working(engine)
        if engine.pos_steps <= 0:
            if working:
                self._cancel_working(engine)
            self.best_high = None
            return
        if any(o.type is OrderType.MARKET for o in engine.open_orders.values()):
            return  # an order of the strategy is still filling: wait for the position it leaves
        high = Decimal(repr(candle.high))
        self.best_high = high if self.best_high is None else max(self.best_high, high)
        entry = engine.position.avg_price
        s = self.settings
        tp_pct = _pct(s.take_profit_pct)
        tp = self.entry_tp or (entry * (1 + tp_pct) if tp_pct is not None else None)
        if tp is not None and high >= tp:
            self._exit_now(engine, candle, "take_profit")
            return
        stop, reason = self._stop_level(entry)
        if stop is None:
            return
        level = inst.round_price(stop, Rounding.DOWN)
        qty = inst.from_steps(engine.pos_steps)
        current = working[0] if working else None
        if current is not None and current.remaining == qty and current.stop_price is not None \
                and current.stop_price >= level:
            return  # protects the whole position at the level or better: a stop never moves down
        if level >= Decimal(repr(candle.close)):
            # the exchange refuses a stop that would trigger at once: the level is already crossed
            self._exit_now(engine, candle, reason)
            return
        self._cancel_working(engine)
        offset = _pct(s.stop_limit_offset_pct) or Decimal(0)
        limit = inst.round_price(level * (1 - offset), Rounding.DOWN)
        order = Order(self._id(engine, candle, reason, _STOP_SLOT), inst.symbol, OrderSide.SELL, OrderType.STOP_LIMIT,
                      qty, price=limit, stop_price=level, reduce_only=True, created_ts=candle.ts + engine.tf_ms)
        engine.place(order, Decimal(repr(candle.close)))
        engine.apply_updates(engine.venue.poll(), engine.last_ts)
        if order.status is OrderStatus.REJECTED and "immediately" in order.reason:
            # the market fell through the level between the candle's close and the order's arrival
            self._exit_now(engine, candle, reason)

    # -- crash-safe state ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, str | None]:
        return {k: None if v is None else str(v) for k, v in
                (("entry_sl", self.entry_sl), ("entry_tp", self.entry_tp), ("best_high", self.best_high))}

    def restore(self, data: dict[str, str | None]) -> None:
        self.entry_sl, self.entry_tp, self.best_high = (
            None if data.get(k) is None else Decimal(str(data[k])) for k in ("entry_sl", "entry_tp", "best_high"))

    # -- helpers ---------------------------------------------------------------------------------------
    def _stop_level(self, entry: Decimal) -> tuple[Decimal | None, str]:
        s = self.settings
        sl_pct = _pct(s.stop_loss_pct)
        stop = self.entry_sl or (entry * (1 - sl_pct) if sl_pct is not None else None)
        reason = "stop_loss"
        trail_pct = _pct(s.trailing_stop_pct)
        if trail_pct is not None and self.best_high is not None:
            trail = self.best_high * (1 - trail_pct)
            if stop is None or trail > stop:
                stop, reason = trail, "trailing_stop"
        return stop, reason

    @staticmethod
    def _working(engine: Any) -> list[Order]:
        return [o for o in engine.open_orders.values() if is_protective(o) and o.side is OrderSide.SELL
                and o.type is OrderType.STOP_LIMIT]

    def _cancel_working(self, engine: Any) -> None:
        working = self._working(engine)
        for order in working:
            engine.cancel(order.client_id)
        if working:  # book the cancellation (or a last fill) before anything else is decided
            engine.apply_updates(engine.venue.poll(), engine.last_ts)

    def _exit_now(self, engine: Any, candle: Candle, reason: str) -> None:
        self._cancel_working(engine)
        if engine.pos_steps <= 0:  # the stop filled before it could be cancelled
            return
        inst = engine.instrument
        order = Order(self._id(engine, candle, reason, _EXIT_SLOT), inst.symbol, OrderSide.SELL, OrderType.MARKET,
                      inst.from_steps(engine.pos_steps), reduce_only=True, created_ts=candle.ts + engine.tf_ms)
        engine.place(order, Decimal(repr(candle.close)))
        engine.apply_updates(engine.venue.poll(), engine.last_ts)

    @staticmethod
    def _id(engine: Any, candle: Candle, reason: str, slot: int) -> str:
        base = client_order_id(engine.strategy.name, engine.instrument.symbol, candle.ts, slot)
        return f"{base}-{PROTECTIVE_SUFFIX[reason]}"

