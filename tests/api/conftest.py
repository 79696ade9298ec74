"""A clock the tests move, and a publisher fed through a real event bus."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from tradewarden.api.publish import BotInfo, BotPublisher, attach
from tradewarden.domain.events import EventType as E
from tradewarden.observability.bus import EventBus
from tradewarden.persistence import Database

HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def bot_info(account: str = "paper:sim:portfolio", pid: int = 4242) -> BotInfo:
    return BotInfo(account=account, mode="paper", symbols=("BTC/USDT", "ETH/USDT"), strategy="sma_cross",
                   timeframe_ms=HOUR, config_hash="cafe", host="testhost", pid=pid)


@contextmanager
def published(db: Database, clock: Clock, info: BotInfo | None = None) -> Iterator[tuple[EventBus, BotPublisher]]:
    """A bus and a publisher attached to it; on leaving, the bus closes (draining) and the publisher stops."""
    bus = EventBus()
    publisher = attach(bus, db, info or bot_info(), period_s=3600, clock=clock)
    try:
        yield bus, publisher
    finally:
        bus.close()
        publisher.stop()


def trade(bus: EventBus, ts: int) -> None:
    """Buy 0.5 BTC at 100 in two fills, sell 0.2 at 110, mark at 120; an ETH order stays open."""
    bus.emit(E.ORDER_PLACED, ts, client_id="b1", symbol="BTC/USDT", side="buy", order_type="market",
             qty=Decimal("0.5"), price=None, stop_price=None, stop_loss=None, take_profit=None, reduce_only=False)
    for qty in ("0.2", "0.3"):
        bus.emit(E.FILL, ts, client_id="b1", symbol="BTC/USDT", side="buy", qty=Decimal(qty),
                 price=Decimal("100"), fee=Decimal("0.01"), liquidity="taker", reason="entry")
    bus.emit(E.ORDER_PLACED, ts + HOUR, client_id="s1", symbol="BTC/USDT", side="sell", order_type="limit",
             qty=Decimal("0.2"), price=Decimal("110"), stop_price=None, stop_loss=None, take_profit=None,
             reduce_only=True)
    bus.emit(E.FILL, ts + HOUR, client_id="s1", symbol="BTC/USDT", side="sell", qty=Decimal("0.2"),
             price=Decimal("110"), fee=Decimal("0.02"), liquidity="maker", reason="exit")
    bus.emit(E.ORDER_PLACED, ts + HOUR, client_id="e1", symbol="ETH/USDT", side="buy", order_type="limit",
             qty=Decimal("2"), price=Decimal("3000.5"), stop_price=None, stop_loss=None, take_profit=None,
             reduce_only=False)
    bus.emit(E.EQUITY_SAMPLE, ts + HOUR, candle_ts=ts, equity=Decimal("10007.96"), pnl=Decimal("7.96"),
             marks={"BTC/USDT": Decimal("120")}, balances={"USDT": Decimal("9971.96"), "BTC": Decimal("0.3")})
