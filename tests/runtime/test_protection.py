"""The live protective-exit rules, candle by candle, on a stand-in engine (the exchange round trip is tested in
test_live_session.py against the simulator)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tradewarden.domain.candles import Candle
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import Order, OrderSide, OrderStatus, OrderType
from tradewarden.domain.portfolio import Position
from tradewarden.domain.ports import OrderUpdate
from tradewarden.runtime.protection import LiveProtection, ProtectionSettings

D = Decimal
TF = 300_000


class Venue:
    def __init__(self) -> None:
        self.pending: list[OrderUpdate] = []

    def poll(self) -> Sequence[OrderUpdate]:
        out, self.pending = self.pending, []
        return out


class Strategy:
    name = "test"


class StandInEngine:
    """What the protection reads and calls on the engine: a long of 0.01 BTC bought at 100."""

    def __init__(self) -> None:
        self.instrument = Instrument.default_spot("BTC/USDT")
        self.strategy = Strategy()
        self.venue = Venue()
        self.tf_ms = TF
        self.last_ts = 0
        self.pos_steps = 1000
        self.position = Position("BTC/USDT", D("0.01"), D("100"))
        self.open_orders: dict[str, Order] = {}
        self.placed: list[Order] = []
        self.cancelled: list[str] = []

    def place(self, order: Order, last: Decimal) -> bool:
        order.transition(OrderStatus.SUBMITTED)
        order.transition(OrderStatus.ACCEPTED)
        self.placed.append(order)
        self.open_orders[order.client_id] = order
        return True

    def cancel(self, client_id: str) -> None:
        self.cancelled.append(client_id)
        self.venue.pending.append(OrderUpdate(client_id, OrderStatus.CANCELLED.value))

    def apply_updates(self, updates: Sequence[OrderUpdate], ts: int) -> None:
        for u in updates:
            order = self.open_orders.pop(u.client_id)
            order.transition(OrderStatus(u.status))


def bar(i: int, high: float, close: float) -> Candle:
    return Candle(i * TF, close, high, close - 1, close, 1.0)


def protection(**pcts: Any) -> LiveProtection:
    return LiveProtection(ProtectionSettings(**pcts))


def test_a_stop_loss_is_placed_once_for_the_whole_position() -> None:
    engine, prot = StandInEngine(), protection(stop_loss_pct=2.0)
    prot.sync(engine, bar(1, 101, 100.5))
    prot.sync(engine, bar(2, 102, 101.0))
    (stop,) = engine.placed
    assert stop.type is OrderType.STOP_LIMIT and stop.side is OrderSide.SELL and stop.reduce_only
    assert (stop.qty, stop.stop_price, stop.price) == (D("0.01"), D("98.00"), D("97.51"))  # limit 0.5% below
    assert stop.client_id.endswith("-sl") and engine.cancelled == []


def test_a_trailing_stop_is_replaced_as_it_rises_and_never_lowered() -> None:
    engine, prot = StandInEngine(), protection(trailing_stop_pct=1.0)
    prot.sync(engine, bar(1, 110, 109))      # level 108.90
    prot.sync(engine, bar(2, 105, 104.5))    # the high fell back: the stop stays where it is
    prot.sync(engine, bar(3, 120, 119))      # level 118.80: cancel, then place
    levels = [o.stop_price for o in engine.placed]
    assert levels == [D("108.90"), D("118.80")]
    assert engine.cancelled == [engine.placed[0].client_id]
    assert all(o.client_id.endswith("-ts") for o in engine.placed)


def test_a_level_the_close_already_crossed_exits_at_market() -> None:
    engine, prot = StandInEngine(), protection(trailing_stop_pct=1.0)
    prot.sync(engine, bar(1, 110, 108))      # level 108.90 is above the close
    (exit_,) = engine.placed
    assert exit_.type is OrderType.MARKET and exit_.qty == D("0.01") and exit_.client_id.endswith("-ts")


def test_take_profit_cancels_the_stop_and_sells_at_market() -> None:
    engine, prot = StandInEngine(), protection(stop_loss_pct=2.0, take_profit_pct=5.0)
    prot.sync(engine, bar(1, 101, 100.5))
    stop = engine.placed[0]
    prot.sync(engine, bar(2, 105.5, 104))    # the high reached 105
    assert engine.cancelled == [stop.client_id]
    sell = engine.placed[-1]
    assert sell.type is OrderType.MARKET and sell.client_id.endswith("-tp") and sell.qty == D("0.01")


def test_the_entry_orders_own_levels_win_and_another_sell_frees_the_coins_first() -> None:
    engine, prot = StandInEngine(), protection(stop_loss_pct=2.0)
    entry = Order("tw-x-1-0", "BTC/USDT", OrderSide.BUY, OrderType.MARKET, D("0.01"), stop_loss=D("95"))
    prot.before_submit(engine, entry)
    prot.sync(engine, bar(1, 101, 100.5))
    assert engine.placed[0].stop_price == D("95.00")
    exit_ = Order("tw-x-2-0", "BTC/USDT", OrderSide.SELL, OrderType.MARKET, D("0.01"), reduce_only=True)
    prot.before_submit(engine, exit_)
    assert engine.cancelled == [engine.placed[0].client_id] and engine.open_orders == {}


def test_flat_means_no_stop_and_the_state_survives_a_restart() -> None:
    engine, prot = StandInEngine(), protection(trailing_stop_pct=1.0)
    prot.sync(engine, bar(1, 110, 109))
    again = protection(trailing_stop_pct=1.0)
    again.restore(prot.snapshot())
    assert again.best_high == D("110")
    engine.pos_steps = 0
    again.sync(engine, bar(2, 111, 110))
    assert engine.cancelled == [engine.placed[0].client_id] and again.best_high is None
