"""The node's ``flatten`` command (the emergency stop's): every open order of the symbol cancelled, then the whole
position closed by a reduce-only market order that the risk gate lets through while the kill switch halts
trading; a request addressed to another bot is left to it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.conftest import MemoryEvents

from tradewarden.domain.candles import Candle
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import Order, OrderSide, OrderStatus, OrderType
from tradewarden.engine.engine import Engine, EngineSettings
from tradewarden.node.commands import FLATTEN, NodeCommands, target_of
from tradewarden.node.runner import StrategyRunner
from tradewarden.risk import RiskConfig, RiskManager
from tradewarden.risk.snapshot import OperatorCommand
from tradewarden.strategies import load_strategy
from tradewarden.venues.params import FillSettings
from tradewarden.venues.simulated import SimulatedVenue

BTC = Instrument.default_spot("BTC/USDT")
CASH = Decimal(10_000)
TS = 1_700_000_000_000


class Requests:
    """The operator requests as the node's store shows them, and what the node marked done."""

    def __init__(self, pending: list[OperatorCommand]) -> None:
        self.pending = pending
        self.done: dict[int, str] = {}

    def pending_commands(self) -> list[OperatorCommand]:
        return [c for c in self.pending if c.id not in self.done]

    def command_done(self, command_id: int, ts: int, outcome: str) -> None:
        self.done[command_id] = outcome


def halted_runner(events: MemoryEvents) -> tuple[StrategyRunner, RiskManager]:
    risk = RiskManager(RiskConfig.model_validate({"check_balance": False, "max_price_deviation_pct": None}), events)
    risk.activate_kill_switch(TS, "drill", "alice")
    venue = SimulatedVenue(BTC, FillSettings(), CASH)
    engine = Engine(load_strategy("sma_cross", {"fast": 5, "slow": 20}), BTC, venue, events, EngineSettings(), CASH,
                    "1h", check=risk, risk=risk, keep_history=False)
    engine.history.append(Candle(TS, 100.0, 101.0, 99.0, 100.0, 5.0))
    engine.adopt_position(TS, Decimal("2"), Decimal(100))
    return StrategyRunner(engine, venue, risk), risk


def command(id_: int, scope: str = "BTC/USDT", target: str = "") -> OperatorCommand:
    return OperatorCommand(id_, FLATTEN, target, scope, "drill", "alice", TS)


def commands(store: Requests, runner: StrategyRunner, account: str = "acct") -> NodeCommands:
    return NodeCommands(store, {"BTC/USDT": runner}, lambda: "reloaded", lambda: None,  # type: ignore[arg-type]
                        lambda: TS, account)


def test_flatten_cancels_every_open_order_and_closes_the_position_through_the_halted_gate(
        events: MemoryEvents) -> None:
    runner, risk = halted_runner(events)
    engine = runner.engine
    # a protective stop the kill switch's own plan would keep, placed before the switch went on
    stop = Order("tw-x-sl", "BTC/USDT", OrderSide.SELL, OrderType.STOP_MARKET, Decimal("2"),
                 stop_price=Decimal(90), reduce_only=True, created_ts=TS)
    engine.check = None
    engine.place(stop, Decimal(100))
    engine.check = risk
    assert engine.open_orders and risk.kill_switch_plan(TS, list(engine.open_orders.values()),
                                                        {"BTC/USDT": Decimal(2)}).empty
    store = Requests([command(7)])
    node = commands(store, runner)
    (pending,) = node.pending()
    node.carry_out(pending)
    outcome = store.done[7]
    assert outcome == ("flattened BTC/USDT: cancelled 1 open order(s); closing BTC/USDT: sell 2.00000 at market "
                       "(reduce-only)"), outcome
    assert "tw-x-sl" not in engine.open_orders and stop.status is OrderStatus.CANCELLED
    assert [e["client_id"] for e in events.of("OrderCancelled")] == ["tw-x-sl"]
    (close,) = [o for o in engine.open_orders.values()]
    assert close.client_id.startswith("tw-op-7-") and close.reduce_only and close.type is OrderType.MARKET
    placed = events.of("OrderPlaced")
    assert placed[-1]["client_id"] == close.client_id


def test_an_entry_while_halted_is_still_denied_and_a_flat_symbol_is_flattened_at_once(events: MemoryEvents) -> None:
    runner, _ = halted_runner(events)
    engine = runner.engine
    entry = Order("tw-entry", "BTC/USDT", OrderSide.BUY, OrderType.MARKET, Decimal(1), created_ts=TS)
    assert not engine.place(entry, Decimal(100))  # the gate halts entries
    engine.adopt_position(TS, Decimal(0), Decimal(100))
    store = Requests([command(8)])
    commands(store, runner).carry_out(command(8))
    assert store.done[8] == "flattened BTC/USDT: cancelled 0 open order(s); no position in BTC/USDT"


def test_a_flatten_is_taken_only_by_its_bot_and_only_for_a_symbol_it_trades(events: MemoryEvents) -> None:
    runner, _ = halted_runner(events)
    store = Requests([command(1, target=target_of("acct")), command(2, target=target_of("other")),
                      command(3, scope="ETH/USDT"), command(4)])
    taken: list[Any] = [c.id for c in commands(store, runner, "acct").pending()]
    assert taken == [1, 4]
    assert len(target_of("live:binance:" + "X/USDT," * 30 + ":sma_cross")) <= 64  # fits the column
