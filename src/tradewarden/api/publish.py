"""A bot publishes its state for ``status``, the API and the dashboard.

``attach(bus, database, bot)`` writes the bot's row, subscribes to the event bus and starts a writer thread.
The bus hands each event to our handler on the bus's subscriber thread, which only appends it to a list; the
writer thread turns what has gathered into one transaction (events, positions, open orders, balances, equity
samples) and, every ``period`` seconds, the heartbeat. So the trading path pays one ``put_nowait`` per event
(the bus's contract) and a slow database delays only the read model. ``stop()`` writes what is left and marks
the bot ``stopped``; a bot that dies without it keeps an ageing heartbeat, which readers show as ``lost``.

Positions are rebuilt from ``Fill`` events (signed quantity, average entry, realized PnL net of fees), open
orders from ``OrderPlaced``/``OrderAdopted`` less fills and endings, marks, balances and the equity curve from
``EquitySample``, which the node emits once per closed candle.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from tradewarden.domain.events import EventType
from tradewarden.observability.bus import Event, EventBus
from tradewarden.persistence import Database
from tradewarden.persistence.ops_models import (
    BotBalanceRow,
    BotEquityRow,
    BotEventRow,
    BotOpenOrderRow,
    BotPositionRow,
    BotRow,
)

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
DEFAULT_PERIOD_S = 5.0
SUBSCRIBER = "ops-publisher"
RUNNING, STOPPED = "running", "stopped"
_ZERO = Decimal(0)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class BotInfo:
    """What a bot is: its account, mode, symbols, strategy, bar length and config hash; host and pid are this
    process's unless given. ``id`` is how the kill switch acknowledgements name the bot too."""

    account: str
    mode: str
    symbols: tuple[str, ...]
    strategy: str
    timeframe_ms: int
    config_hash: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    @property
    def id(self) -> str:
        return f"{self.account} on {self.host} pid {self.pid}"


def _dec(value: object) -> Decimal:
    return Decimal(str(value))


class BotPublisher:
    """Writes one bot's read model from its own thread. Use :func:`attach`."""

    def __init__(self, database: Database, bot: BotInfo, period_s: float = DEFAULT_PERIOD_S,
                 clock: Callable[[], int] = now_ms) -> None:
        self.db, self.bot, self.period_s, self.clock = database, bot, period_s, clock
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"ops-publisher-{bot.pid}", daemon=True)
        self.failures = 0  # transactions that failed (logged once a streak); the events stay queued for the next

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self, bus: EventBus) -> None:
        ts = self.clock()
        with self.db.session() as s:
            s.merge(BotRow(id=self.bot.id, account=self.bot.account, host=self.bot.host, pid=self.bot.pid,
                           mode=self.bot.mode, symbols=json.dumps(list(self.bot.symbols)),
                           strategy=self.bot.strategy, timeframe_ms=self.bot.timeframe_ms,
                           config_hash=self.bot.config_hash, heartbeat_ms=int(self.period_s * 1000), started=ts,
                           last_heartbeat=ts, last_candle=None, state=RUNNING, stopped=None))
        bus.subscribe(SUBSCRIBER, self._receive)
        self._thread.start()

    def _receive(self, event: Event) -> None:
        """On the bus's subscriber thread: hand the event to the writer, nothing more."""
        with self._lock:
            self._pending.append(event)
        self._wake.set()

    def stop(self) -> None:
        """Write what is left and mark the bot stopped (a clean stop). Call after the bus has closed, so the
        last events are in."""
        self._stopping = True
        self._wake.set()
        self._thread.join()
        ts = self.clock()
        with self.db.session() as s:
            self._flush(s, ts)
            row = s.get(BotRow, self.bot.id)
            if row is not None:
                row.state, row.stopped, row.last_heartbeat = STOPPED, ts, ts

    # -- the writer thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.period_s)
            self._wake.clear()
            if self._stopping:
                return
            try:
                with self.db.session() as s:
                    self._flush(s, self.clock())
            except Exception:
                self.failures += 1
                if self.failures == 1:
                    log.exception("publishing the bot's state failed; retrying (the trading is not affected)")
            else:
                self.failures = 0

    def _flush(self, s: Session, ts: int) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        try:
            for event in events:
                self._apply(s, event)
            s.flush()
        except Exception:
            with self._lock:  # keep them for the next try, in order
                self._pending[:0] = events
            raise
        row = s.get(BotRow, self.bot.id)
        if row is not None:
            row.last_heartbeat = ts

    def _apply(self, s: Session, event: Event) -> None:
        rec = event.record
        s.add(BotEventRow(bot=self.bot.id, ts=event.ts, type=str(event.type),
                          json=json.dumps(dict(rec), sort_keys=True, default=str)))
        if event.type in (EventType.ORDER_PLACED, EventType.ORDER_ADOPTED):
            price = rec.get("price")
            s.merge(BotOpenOrderRow(bot=self.bot.id, client_id=rec["client_id"], symbol=rec["symbol"],
                                    side=rec["side"], order_type=rec["order_type"], qty=_dec(rec["qty"]),
                                    price=None if price is None else _dec(price), ts=event.ts))
        elif event.type in (EventType.ORDER_CANCELLED, EventType.ORDER_REJECTED):
            s.execute(delete(BotOpenOrderRow).where(BotOpenOrderRow.bot == self.bot.id,
                                                     BotOpenOrderRow.client_id == rec["client_id"]))
        elif event.type == EventType.FILL:
            self._fill(s, rec, event.ts)
        elif event.type == EventType.EQUITY_SAMPLE:
            self._equity(s, rec, event.ts)

    def _fill(self, s: Session, rec: Mapping[str, Any], ts: int) -> None:
        qty, price, fee = _dec(rec["qty"]), _dec(rec["price"]), _dec(rec["fee"])
        order = s.get(BotOpenOrderRow, (self.bot.id, rec["client_id"]))
        if order is not None:  # the row keeps what is still open
            order.qty -= qty
            if order.qty <= 0:
                s.delete(order)
        signed = qty if rec["side"] == "buy" else -qty
        pos = s.get(BotPositionRow, (self.bot.id, rec["symbol"]))
        if pos is None:
            pos = BotPositionRow(bot=self.bot.id, symbol=rec["symbol"], qty=_ZERO, entry_price=_ZERO, mark=None,
                                 realized=_ZERO, realized_today=_ZERO, today=ts // DAY_MS, updated_ts=ts)
            s.add(pos)
        if pos.today != ts // DAY_MS:
            pos.today, pos.realized_today = ts // DAY_MS, _ZERO
        realized = -fee
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):  # opening or adding: a new average entry
            pos.entry_price = (pos.entry_price * abs(pos.qty) + price * qty) / (abs(pos.qty) + qty)
            pos.qty += signed
        else:  # reducing, closing or flipping
            closed = min(qty, abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            realized += (price - pos.entry_price) * closed * direction
            pos.qty += signed
            if pos.qty == 0:
                pos.entry_price = _ZERO
            elif (pos.qty > 0) != (direction > 0):  # flipped: the rest opened at this price
                pos.entry_price = price
        pos.realized += realized
        pos.realized_today += realized
        pos.updated_ts = ts

    def _equity(self, s: Session, rec: Mapping[str, Any], ts: int) -> None:
        candle = int(rec["candle_ts"])
        s.merge(BotEquityRow(bot=self.bot.id, ts=candle, equity=_dec(rec["equity"]), pnl=_dec(rec["pnl"])))
        for symbol, mark in dict(rec.get("marks") or {}).items():
            pos = s.get(BotPositionRow, (self.bot.id, symbol))
            if pos is not None:
                pos.mark = _dec(mark)
        for asset, amount in dict(rec.get("balances") or {}).items():
            s.merge(BotBalanceRow(bot=self.bot.id, asset=asset, amount=_dec(amount), ts=ts))
        row = s.get(BotRow, self.bot.id)
        if row is not None and (row.last_candle is None or candle > row.last_candle):
            row.last_candle, row.candle_seen = candle, ts


def attach(bus: EventBus, database: Database, bot: BotInfo, period_s: float = DEFAULT_PERIOD_S,
           clock: Callable[[], int] = now_ms) -> BotPublisher:
    """Publish ``bot``'s state from the events on ``bus`` into ``database``; call ``stop()`` on a clean end."""
    publisher = BotPublisher(database, bot, period_s, clock)
    publisher.start(bus)
    return publisher
