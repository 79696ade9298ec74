"""The publisher: a real event bus, fake events, the read model in SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

from tradewarden.api import readmodel as rm
from tradewarden.api.publish import attach
from tradewarden.domain.events import EventType as E
from tradewarden.observability.bus import EventBus
from tradewarden.persistence import Database

from .conftest import HOUR, T0, Clock, bot_info, published, trade


def test_positions_orders_balances_and_equity_come_from_the_events(db_url: str | None, tmp_path: Path) -> None:
    clock = Clock()
    with Database.open(db_url, tmp_path) as db:
        with published(db, clock) as (bus, _):
            trade(bus, T0)
        bot_id = bot_info().id
        with db.session() as s:
            (pos,) = rm.positions(s, bot_id, T0 + HOUR)
            # 0.5 bought at 100, 0.2 sold at 110: realized 0.2 * 10 less 0.04 fees; 0.3 left, marked at 120
            assert (pos.symbol, pos.qty, pos.entry_price, pos.mark) == \
                ("BTC/USDT", Decimal("0.3"), Decimal(100), Decimal(120))
            assert pos.realized == pos.realized_today == Decimal("1.96")
            assert pos.unrealized == Decimal("6.0")
            assert [(o.client_id, o.qty, o.price) for o in rm.open_orders(s, bot_id)] == \
                [("e1", Decimal("2"), Decimal("3000.5"))]
            assert rm.balances(s, bot_id) == {"BTC": Decimal("0.3"), "USDT": Decimal("9971.96")}
            assert rm.equity(s, bot_id) == [rm.EquityPoint(T0, Decimal("10007.96"), Decimal("7.96"))]
            assert [e.type for e in rm.events(s, bot_id, types=["Fill"])] == ["Fill"] * 3
            view = rm.bot(s, bot_id, clock.now)
            assert view is not None and view.last_candle == T0 and view.symbols == ["BTC/USDT", "ETH/USDT"]


def test_realized_pnl_of_today_restarts_each_utc_day(tmp_path: Path) -> None:
    clock = Clock()
    with Database.open(None, tmp_path) as db:
        with published(db, clock) as (bus, _):
            trade(bus, T0)
            bus.emit(E.FILL, T0 + 25 * HOUR, client_id="s2", symbol="BTC/USDT", side="sell", qty=Decimal("0.3"),
                     price=Decimal("90"), fee=Decimal("0"), liquidity="taker", reason="exit")
        with db.session() as s:
            (pos,) = rm.positions(s, bot_info().id, T0 + 25 * HOUR)
        assert pos.qty == 0 and pos.realized_today == Decimal("-3.0") and pos.realized == Decimal("-1.04")


def test_a_clean_stop_reads_stopped_and_a_silent_bot_reads_lost(tmp_path: Path) -> None:
    clock = Clock()
    with Database.open(None, tmp_path) as db:
        with published(db, clock, bot_info(pid=1)):
            pass
        bus = EventBus()
        attach(bus, db, bot_info(pid=2), period_s=5, clock=clock)  # never stopped: its process "died"
        with db.session() as s:
            assert {b.pid: b.state for b in rm.bots(s, clock.now)} == {1: "stopped", 2: "running"}
            assert {b.pid: b.state for b in rm.bots(s, clock.now + 15_001)} == {1: "stopped", 2: "lost"}
        bus.close()


def test_the_heartbeat_is_written_by_the_publisher_thread(tmp_path: Path) -> None:
    clock = Clock()
    with Database.open(None, tmp_path) as db:
        bus = EventBus()
        publisher = attach(bus, db, bot_info(), period_s=0.01, clock=clock)
        clock.now = T0 + 60_000
        done = threading.Event()
        for _ in range(500):  # the heartbeat lands within a few periods; no timing is asserted
            with db.session() as s:
                view = rm.bot(s, bot_info().id, clock.now)
            if view is not None and view.last_heartbeat == clock.now:
                done.set()
                break
            done.wait(0.01)
        bus.close()
        publisher.stop()
        assert done.is_set()
