"""The daily health check: every bot on a database, its positions and PnL, the risk state, and the verdict.

A bot is unhealthy when its heartbeat is lost, when its newest candle is older than two bars, and the whole
database is when the kill switch is on, a trading state is HALTED or a breaker is tripped. A stopped bot (a
clean stop) is reported but is not a problem. ``problems`` names each in one line; none means healthy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from tradewarden.api import readmodel as rm
from tradewarden.risk.store import RiskStateStore

STALE_BARS = 2


@dataclass(frozen=True)
class SymbolStatus:
    symbol: str
    qty: Decimal
    entry_price: Decimal
    mark: Decimal | None
    pnl_today: Decimal      # realized today plus unrealized
    pnl_total: Decimal      # realized plus unrealized


@dataclass(frozen=True)
class BotStatus:
    bot: rm.BotView
    uptime_s: int | None           # None once stopped
    candle_age_s: int | None       # since the newest candle closed
    equity: Decimal | None
    pnl: Decimal | None
    symbols: list[SymbolStatus]
    open_orders: list[rm.OrderView]
    feed: rm.FeedHealth
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RiskStatus:
    kill_switch: bool
    kill_switch_reason: str
    trading_states: dict[str, str]
    tripped_breakers: list[str]
    stage: str | None


@dataclass(frozen=True)
class StatusReport:
    now: int
    bots: list[BotStatus]
    risk: RiskStatus
    problems: list[str]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = _jsonable(asdict(self))
        return body | {"healthy": self.healthy}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def risk_status(store: RiskStateStore) -> RiskStatus:
    snap = store.load()
    return RiskStatus(snap.kill_switch.active, snap.kill_switch.reason,
                      {scope: state.value for scope, (state, _, _) in sorted(snap.states.items())},
                      [f"{b.name} ({b.scope}): {b.reason}" for b in snap.breakers if b.tripped], snap.active_stage)


def bot_status(store: RiskStateStore, bot: rm.BotView, now: int) -> BotStatus:
    return bot_statuses(store, [bot], now)[0]


def bot_statuses(store: RiskStateStore, bots: list[rm.BotView], now: int) -> list[BotStatus]:
    """Each bot's status, read in one session with one query per table for all of them."""
    ids = [b.id for b in bots]
    with store.db.session() as s:
        positions = rm.positions_of(s, ids, now)
        orders = rm.open_orders_of(s, ids)
        latest = rm.latest_equity_of(s, ids)
        feeds = rm.feed_health_of(s, ids, now)
    return [_status(b, positions[b.id], orders[b.id], latest.get(b.id), feeds[b.id], now) for b in bots]


def _status(bot: rm.BotView, positions: list[rm.PositionView], orders: list[rm.OrderView],
            latest: rm.EquityPoint | None, feed: rm.FeedHealth, now: int) -> BotStatus:
    symbols = [SymbolStatus(p.symbol, p.qty, p.entry_price, p.mark, p.realized_today + p.unrealized,
                            p.realized + p.unrealized) for p in positions]
    # since the newest candle reached the bot (its close, on a real market): the simulator's market time is
    # not the wall clock, the arrival is
    since = None if bot.last_candle is None else \
        now - (bot.candle_seen if bot.candle_seen is not None else bot.last_candle + bot.timeframe_ms)
    candle_age = None if since is None else since // 1000
    problems = []
    if bot.state == rm.LOST:
        problems.append(f"bot {bot.id}: heartbeat lost ({(now - bot.last_heartbeat) // 1000} s since the last)")
    elif bot.state == "running":
        if bot.last_candle is None:
            if now - bot.started > STALE_BARS * bot.timeframe_ms:
                problems.append(f"bot {bot.id}: no candle since it started")
        elif since is not None and since > STALE_BARS * bot.timeframe_ms:
            problems.append(f"bot {bot.id}: newest candle is {candle_age} s old (older than {STALE_BARS} bars)")
    uptime = None if bot.state == "stopped" else (now - bot.started) // 1000
    return BotStatus(bot, uptime, candle_age, None if latest is None else latest.equity,
                     None if latest is None else latest.pnl, symbols, orders, feed, problems)


def collect(store: RiskStateStore, now: int) -> StatusReport:
    with store.db.session() as s:
        bots = rm.bots(s, now)
    statuses = bot_statuses(store, bots, now)
    risk = risk_status(store)
    problems = [p for b in statuses for p in b.problems]
    if not bots:
        problems.append("no bot has published to this database")
    if risk.kill_switch:
        problems.append(f"kill switch is on: {risk.kill_switch_reason}")
    problems += [f"trading state of {scope} is HALTED" for scope, st in risk.trading_states.items()
                 if st == "HALTED"]
    problems += [f"breaker tripped: {b}" for b in risk.tripped_breakers]
    return StatusReport(now, statuses, risk, problems)
