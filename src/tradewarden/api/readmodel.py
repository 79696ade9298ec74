"""Reading the operations read model (what the bots published) for ``status`` and the HTTP API.

Plain frozen dataclasses come out, never ORM rows. A bot whose heartbeat is older than three periods reads as
``lost`` whatever its row says: a bot that died could not write ``stopped``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tradewarden.domain.events import EventType
from tradewarden.persistence.ops_models import (
    BotBalanceRow,
    BotEquityRow,
    BotEventRow,
    BotOpenOrderRow,
    BotPositionRow,
    BotRow,
)

LOST = "lost"
STALE_PERIODS = 3  # a heartbeat older than this many periods is lost
DAY_MS = 86_400_000


@dataclass(frozen=True)
class BotView:
    id: str
    account: str
    host: str
    pid: int
    mode: str
    symbols: list[str]
    strategy: str
    timeframe_ms: int
    config_hash: str
    started: int
    last_heartbeat: int
    last_candle: int | None
    state: str            # running | stopped | lost
    stopped: int | None
    candle_seen: int | None = None  # when (wall clock) the newest candle reached the bot


@dataclass(frozen=True)
class PositionView:
    symbol: str
    qty: Decimal
    entry_price: Decimal
    mark: Decimal | None
    unrealized: Decimal
    realized: Decimal
    realized_today: Decimal
    updated_ts: int


@dataclass(frozen=True)
class OrderView:
    client_id: str
    symbol: str
    side: str
    order_type: str
    qty: Decimal          # what is still open
    price: Decimal | None
    ts: int


@dataclass(frozen=True)
class EquityPoint:
    ts: int
    equity: Decimal
    pnl: Decimal


@dataclass(frozen=True)
class EventView:
    id: int
    ts: int
    type: str
    record: dict[str, Any]


@dataclass(frozen=True)
class FeedHealth:
    reconnects_today: int
    last_stall: int | None


def effective_state(row: BotRow, now: int) -> str:
    if row.state == "running" and now - row.last_heartbeat > STALE_PERIODS * row.heartbeat_ms:
        return LOST
    return row.state


def _bot(row: BotRow, now: int) -> BotView:
    return BotView(row.id, row.account, row.host, row.pid, row.mode, list(json.loads(row.symbols)), row.strategy,
                   row.timeframe_ms, row.config_hash, row.started, row.last_heartbeat, row.last_candle,
                   effective_state(row, now), row.stopped, row.candle_seen)


def bots(s: Session, now: int) -> list[BotView]:
    return [_bot(r, now) for r in s.scalars(select(BotRow).order_by(BotRow.started, BotRow.id))]


def bot(s: Session, bot_id: str, now: int) -> BotView | None:
    row = s.get(BotRow, bot_id)
    return None if row is None else _bot(row, now)


def positions(s: Session, bot_id: str, now: int) -> list[PositionView]:
    today = now // DAY_MS
    out = []
    for r in s.scalars(select(BotPositionRow).where(BotPositionRow.bot == bot_id).order_by(BotPositionRow.symbol)):
        unrealized = Decimal(0) if r.mark is None or r.qty == 0 else (r.mark - r.entry_price) * r.qty
        out.append(PositionView(r.symbol, r.qty, r.entry_price, r.mark, unrealized, r.realized,
                                r.realized_today if r.today == today else Decimal(0), r.updated_ts))
    return out


def open_orders(s: Session, bot_id: str) -> list[OrderView]:
    rows = s.scalars(select(BotOpenOrderRow).where(BotOpenOrderRow.bot == bot_id).order_by(BotOpenOrderRow.ts))
    return [OrderView(r.client_id, r.symbol, r.side, r.order_type, r.qty, r.price, r.ts) for r in rows]


def balances(s: Session, bot_id: str) -> dict[str, Decimal]:
    rows = s.scalars(select(BotBalanceRow).where(BotBalanceRow.bot == bot_id).order_by(BotBalanceRow.asset))
    return {r.asset: r.amount for r in rows}


def equity(s: Session, bot_id: str, start: int | None = None, end: int | None = None,
           limit: int = 10_000) -> list[EquityPoint]:
    q = select(BotEquityRow.ts, BotEquityRow.equity, BotEquityRow.pnl).where(BotEquityRow.bot == bot_id)
    if start is not None:
        q = q.where(BotEquityRow.ts >= start)
    if end is not None:
        q = q.where(BotEquityRow.ts <= end)
    return [EquityPoint(*r) for r in s.execute(q.order_by(BotEquityRow.ts).limit(limit))]


def latest_equity(s: Session, bot_id: str) -> EquityPoint | None:
    q = select(BotEquityRow.ts, BotEquityRow.equity, BotEquityRow.pnl).where(BotEquityRow.bot == bot_id)
    row = s.execute(q.order_by(BotEquityRow.ts.desc()).limit(1)).first()
    return None if row is None else EquityPoint(*row)


def events(s: Session, bot_id: str, types: list[str] | None = None, after_id: int = 0,
           limit: int = 100) -> list[EventView]:
    """Events in order of arrival, after ``after_id`` (the previous page's last id, or a stream's position)."""
    q = select(BotEventRow).where(BotEventRow.bot == bot_id, BotEventRow.id > after_id)
    if types:
        q = q.where(BotEventRow.type.in_(types))
    return [EventView(r.id, r.ts, r.type, json.loads(r.json)) for r in s.scalars(q.order_by(BotEventRow.id)
                                                                                  .limit(limit))]


def feed_health(s: Session, bot_id: str, now: int) -> FeedHealth:
    day_start = now // DAY_MS * DAY_MS
    reconnects = s.scalar(select(func.count()).select_from(BotEventRow).where(
        BotEventRow.bot == bot_id, BotEventRow.ts >= day_start,
        BotEventRow.type == str(EventType.FEED_RECONNECTED))) or 0
    stall = s.scalar(select(func.max(BotEventRow.ts)).where(
        BotEventRow.bot == bot_id, BotEventRow.type == str(EventType.FEED_STALE)))
    return FeedHealth(int(reconnects), None if stall is None else int(stall))


# -- the same reads for several bots at once (status of a whole database: one query per table, not per bot) --
def positions_of(s: Session, bot_ids: list[str], now: int) -> dict[str, list[PositionView]]:
    today = now // DAY_MS
    out: dict[str, list[PositionView]] = {b: [] for b in bot_ids}
    q = select(BotPositionRow).where(BotPositionRow.bot.in_(bot_ids)).order_by(BotPositionRow.bot,
                                                                               BotPositionRow.symbol)
    for r in s.scalars(q):
        unrealized = Decimal(0) if r.mark is None or r.qty == 0 else (r.mark - r.entry_price) * r.qty
        out[r.bot].append(PositionView(r.symbol, r.qty, r.entry_price, r.mark, unrealized, r.realized,
                                       r.realized_today if r.today == today else Decimal(0), r.updated_ts))
    return out


def open_orders_of(s: Session, bot_ids: list[str]) -> dict[str, list[OrderView]]:
    out: dict[str, list[OrderView]] = {b: [] for b in bot_ids}
    q = select(BotOpenOrderRow).where(BotOpenOrderRow.bot.in_(bot_ids)).order_by(BotOpenOrderRow.ts)
    for r in s.scalars(q):
        out[r.bot].append(OrderView(r.client_id, r.symbol, r.side, r.order_type, r.qty, r.price, r.ts))
    return out


def latest_equity_of(s: Session, bot_ids: list[str]) -> dict[str, EquityPoint]:
    # the newest sample of each bot: max(ts) per bot walks the (bot, ts) primary key's end, whatever the history
    newest = (select(BotEquityRow.bot, func.max(BotEquityRow.ts).label("ts"))
              .where(BotEquityRow.bot.in_(bot_ids)).group_by(BotEquityRow.bot).subquery())
    q = select(BotEquityRow.bot, BotEquityRow.ts, BotEquityRow.equity, BotEquityRow.pnl).join(
        newest, (BotEquityRow.bot == newest.c.bot) & (BotEquityRow.ts == newest.c.ts))
    return {bot: EquityPoint(ts, eq, pnl) for bot, ts, eq, pnl in s.execute(q)}


def feed_health_of(s: Session, bot_ids: list[str], now: int) -> dict[str, FeedHealth]:
    day_start = now // DAY_MS * DAY_MS
    reconnects: dict[str, int] = {bot: n for bot, n in s.execute(
        select(BotEventRow.bot, func.count()).where(
            BotEventRow.bot.in_(bot_ids), BotEventRow.ts >= day_start,
            BotEventRow.type == str(EventType.FEED_RECONNECTED)).group_by(BotEventRow.bot))}
    stalls: dict[str, int | None] = {bot: ts for bot, ts in s.execute(
        select(BotEventRow.bot, func.max(BotEventRow.ts)).where(
            BotEventRow.bot.in_(bot_ids), BotEventRow.type == str(EventType.FEED_STALE))
        .group_by(BotEventRow.bot))}
    return {b: FeedHealth(int(reconnects.get(b, 0)), _int_or_none(stalls.get(b))) for b in bot_ids}


def _int_or_none(value: int | None) -> int | None:
    return None if value is None else int(value)
