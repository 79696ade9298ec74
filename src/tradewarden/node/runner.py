"""A strategy runner: one strategy on one symbol — its engine, the venue its orders go to, and (live) the
exchange-side protection of its position.

The node keeps its runners in a mapping keyed by symbol (one element today); the candle loop hands each
closed candle to the runner of its symbol. A runner's methods run on the trading worker only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from tradewarden.domain.candles import Candle
from tradewarden.domain.orders import Order
from tradewarden.engine.engine import Engine
from tradewarden.risk import RiskManager
from tradewarden.runtime.protection import LiveProtection, is_protective
from tradewarden.venues.exchange import ExchangeVenue
from tradewarden.venues.shadow import ShadowVenue
from tradewarden.venues.simulated import SimulatedVenue

#: the venues a session trades on: the fill model (paper), the shadow log, or an exchange (live)
TradingVenue = SimulatedVenue | ShadowVenue | ExchangeVenue


@dataclass
class StrategyRunner:
    engine: Engine
    venue: TradingVenue
    risk: RiskManager
    protection: LiveProtection | None = None  # live only: paper and shadow apply the levels in the fill model

    @property
    def symbol(self) -> str:
        return self.engine.instrument.symbol

    @property
    def exchange(self) -> ExchangeVenue | None:
        """The exchange venue of a live runner; None in paper and shadow."""
        return self.venue if isinstance(self.venue, ExchangeVenue) else None

    def step(self, candle: Candle, feed_healthy: bool) -> None:
        """One closed candle through the engine (and the position's protection)."""
        # the risk state this step changes is written once, after the step, not on the way to its order
        with self.risk.writes_held():
            self.risk.on_feed_health(candle.ts, feed_healthy)
            self.engine.on_candle(candle)
            if self.protection is not None:
                self.protection.sync(self.engine, candle)

    def poll(self) -> None:
        """Book what the venue reports about the open orders."""
        self.engine.apply_updates(self.engine.venue.poll(), self.engine.last_ts)

    def guard_submits(self, store_intent: Callable[[Order], None]) -> None:
        """Live: free the coins a protective stop holds before another sell, then store the intent, before
        anything is sent."""
        engine, protection = self.engine, self.protection

        def before_submit(order: Order) -> None:
            if protection is not None:
                protection.before_submit(engine, order)
            store_intent(order)

        engine.before_submit = before_submit

    def finish_orders(self, on_stop: str) -> None:
        """A graceful stop cancels the open orders (``runtime.on_stop``), except the stop that protects a
        position: it keeps protecting it while the bot is down, and the next run follows it again."""
        engine = self.engine
        if on_stop == "cancel":
            for client_id, order in list(engine.open_orders.items()):
                if not (is_protective(order) and engine.pos_steps > 0):
                    engine.cancel(client_id)
            self.poll()

    def carry_out_kill_switch(self, now: int) -> None:
        """Cancel and close what the kill switch's plan says, at the last close."""
        engine = self.engine
        # the position's protective stop does not count as closing it: a market close cancels it first
        orders = [o for o in engine.open_orders.values() if not is_protective(o)]
        plan = self.risk.kill_switch_plan(now, orders, {engine.instrument.symbol:
                                                        engine.instrument.from_steps(engine.pos_steps)})
        for client_id in plan.cancel:
            engine.cancel(client_id)
        h = engine.history
        last = Decimal(str(float(h.ohlcv[3, h.n - 1]))) if h.n else Decimal(0)
        for order in plan.close:
            engine.place(order, last)
        self.poll()


Runners = Mapping[str, StrategyRunner]
