"""Fees an exchange withholds in the base asset (Binance: every buy): the engine's books match the account."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from tradewarden.domain.candles import Candle, CandleSeries
from tradewarden.domain.events import EventType, payload_problems
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import Order, OrderSide, OrderStatus
from tradewarden.domain.portfolio import Fill
from tradewarden.domain.ports import OrderUpdate
from tradewarden.engine.engine import Engine, EngineSettings
from tradewarden.strategies.base import Signals, Strategy

D = Decimal
FEE_RATE = D("0.001")
TF_MS = 3_600_000


class Script(Strategy):
    """Long or flat as a fixed list says, bar by bar (the engine asks on each closed bar)."""

    name = "script"
    plan: Sequence[float] = ()

    @property
    def lookback(self) -> int:
        return 1

    def signals(self, candles: CandleSeries) -> Signals:
        bar = int(candles.ts[-1] // TF_MS)
        return Signals(np.full(len(candles), self.plan[bar] if bar < len(self.plan) else np.nan))


class Exchange:
    """A spot account that fills market orders at the next bar's open and charges fees as Binance does: a buy's
    fee in the base asset received, a sell's in quote."""

    def __init__(self, inst: Instrument, quote: Decimal) -> None:
        self.inst = inst
        self.base = D(0)
        self.quote = quote
        self.working: list[Order] = []
        self.pending: list[OrderUpdate] = []

    def submit(self, order: Order) -> None:
        self.working.append(order)
        self.pending.append(OrderUpdate(order.client_id, OrderStatus.ACCEPTED.value))

    def cancel(self, client_id: str) -> None:
        raise AssertionError("not used")

    def poll(self) -> Sequence[OrderUpdate]:
        out, self.pending = self.pending, []
        return out

    def on_candle(self, candle: Candle) -> Sequence[OrderUpdate]:
        price = D(repr(candle.open))
        for order in self.working:
            if order.side is OrderSide.BUY:
                fee_base = order.qty * FEE_RATE
                self.quote -= order.qty * price
                self.base += order.qty - fee_base
                fill = Fill(candle.ts, order.client_id, order.symbol, order.side, order.qty, price,
                            fee_base * price, fee_base=fee_base)
            else:
                if order.qty > self.base:  # what Binance answers with -2010
                    raise AssertionError(f"sell of {order.qty} with only {self.base} held")
                fee = (order.qty * price * FEE_RATE).quantize(D("0.00000001"))
                self.base -= order.qty
                self.quote += order.qty * price - fee
                fill = Fill(candle.ts, order.client_id, order.symbol, order.side, order.qty, price, fee)
            self.pending.append(OrderUpdate(order.client_id, OrderStatus.FILLED.value, fill=fill))
        self.working = []
        return self.poll()


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[str, dict[str, Any]]] = []

    def emit(self, type_: EventType, ts: int, **fields: Any) -> None:
        problems = payload_problems(type_, fields)
        assert not problems, problems  # every event carries exactly its payload type's fields
        self.log.append((type_, fields))


def run(plan: Sequence[float], closes: Sequence[float], qty: str = "0.12345") -> tuple[Engine, Exchange, Events]:
    inst = Instrument.default_spot("BTC/USDT")
    strategy = Script()
    strategy.plan = plan
    exchange = Exchange(inst, D(100_000))
    events = Events()
    engine = Engine(strategy, inst, exchange, events, EngineSettings(sizing="fixed", fixed_qty=D(qty)), D(100_000))
    for i, close in enumerate(closes):
        engine.on_candle(Candle(i * TF_MS, close, close + 5, close - 5, close, 10.0))
    return engine, exchange, events


def held(engine: Engine) -> Decimal:
    return engine.instrument.from_steps(engine.pos_steps) + engine.base_dust


def test_position_after_a_buy_is_what_the_account_holds_and_the_close_sells_all_it_can() -> None:
    closes = [40_000.0, 40_100.0, 40_200.0, 40_300.0, 40_400.0, 40_500.0]
    engine, exchange, events = run([1, 1, 0, 0], closes)
    # bought 0.12345 on bar 1, 0.00012345 BTC withheld; sold on bar 3: only whole lot steps can be sold
    fills = engine.fills
    assert [f.side for f in fills] == [OrderSide.BUY, OrderSide.SELL]
    assert fills[0].fee_base == D("0.00012345")
    assert fills[1].qty == D("0.12332")  # 0.12332655 held: the sub-step 0.00000655 stays as dust
    assert engine.pos_steps == 0 and engine.base_dust == D("0.00000655") == exchange.base
    # cash is the account's quote exactly: the buy paid no quote fee
    assert engine.instrument.from_atoms(engine.cash_atoms) == exchange.quote
    # the trade's result is the quote that moved; the base fee counts among its fees
    (trade,) = engine.trades.trades
    assert trade.pnl == exchange.quote - D(100_000)
    assert trade.fees == engine.instrument.from_atoms(engine.fees_atoms)
    assert trade.fees > fills[1].fee  # the buy's withheld base is a fee too
    assert [f["fee_base"] for t, f in events.log if t == "Fill" and "fee_base" in f] == [D("0.00012345")]


def test_dust_is_taken_back_into_the_position_once_it_makes_a_whole_step() -> None:
    # each buy of 0.00501 keeps 0.00500499: 0.499 of a step is dust, so every second or third trade the dust
    # makes a whole step again and that sale is one step larger; the account always holds position + dust
    plan = [1, 0] * 20
    closes = [40_000.0 + 37 * i for i in range(len(plan) + 2)]
    engine, exchange, _ = run(plan, closes, qty="0.00501")
    assert len(engine.trades.trades) == 20
    sells = [f.qty for f in engine.fills if f.side is OrderSide.SELL]
    assert set(sells) == {D("0.00500"), D("0.00501")}
    assert held(engine) == exchange.base
    assert D(0) <= engine.base_dust < engine.instrument.step_size
    # the engine books money in atoms (one tick times one step, 1e-7 USDT); the exchange's sell fees have 8
    # decimals, so each sell may differ by less than one atom, never more
    atom = engine.instrument.atom
    assert abs(engine.instrument.from_atoms(engine.cash_atoms) - exchange.quote) < 20 * atom
    total_pnl = sum((t.pnl for t in engine.trades.trades), D(0))
    # every trade's result adds up to the quote that moved (the dust is held, not sold and not lost)
    assert total_pnl == engine.instrument.from_atoms(engine.cash_atoms) - D(100_000)


def test_snapshot_and_restore_keep_the_dust_and_the_withheld_value() -> None:
    engine, _, _ = run([1, 1, 1], [40_000.0, 40_100.0, 40_200.0, 40_300.0])
    snap = engine.snapshot()
    assert engine.pos_steps == 12332 and engine.base_dust == D("0.00000655")
    again, _, _ = run([], [])
    again.restore(snap, [])
    assert (again.pos_steps, again.base_dust) == (12332, D("0.00000655"))
    assert again.trades.withheld_value == engine.trades.withheld_value > 0
    legacy = dict(snap, book=snap["book"][:8])  # a snapshot written before base fees existed
    legacy.pop("base_dust")
    older, _, _ = run([], [])
    older.restore(legacy, [])
    assert older.base_dust == 0 and older.trades.withheld_value == 0
