"""The risk manager: the one gate every order passes, and the keeper of trading state.

It wraps the pure rules (:mod:`rules`) and breaker tests (:mod:`breakers`) with the effects around them:
events, audit records and, when a store is given, the database. ``check`` does no I/O besides appending an
event and an audit record; the store is read and written in ``poll_kill_switch`` and the ``on_*`` hooks.

Its public methods hold one re-entrant lock: the runtime's kill-switch watcher halts the bot from its own
thread while the trading thread may be waiting for an exchange's answer (the lock is never held across one).

It is built in three layers: :mod:`tradewarden.risk.state_writes` (the shared fields and when the state is
written), :mod:`tradewarden.risk.state_machine` (trading states, breakers, the kill switch, operator commands)
and this module: the gate (``check``) and the hooks the engine calls with what happened (marks, closed trades,
order errors, the feed's health), with the day and stage bookkeeping they drive.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from tradewarden.domain.events import EventType
from tradewarden.domain.orders import Order
from tradewarden.domain.ports import CheckContext, CheckResult
from tradewarden.risk import breakers as brk
from tradewarden.risk.breakers import DAY_MS, MINUTE_MS
from tradewarden.risk.rules import GateView, evaluate, is_reducing
from tradewarden.risk.stages import StageProgress
from tradewarden.risk.state import GLOBAL
from tradewarden.risk.state_machine import TradingStateMachine
from tradewarden.risk.state_writes import RiskStore as RiskStore
from tradewarden.risk.state_writes import serialized


class RiskManager(TradingStateMachine):
    """Implements :class:`tradewarden.domain.ports.PreTradeCheck` and the engine's risk hooks."""

    # -- the gate ------------------------------------------------------------------------------------
    @serialized
    def check(self, order: Order, context: CheckContext) -> CheckResult:
        ts = context.ts
        self._start(ts)
        self._roll_day(ts, context.equity)
        inst = None if self.instruments is None else self.instruments.get(order.symbol)
        verdict = evaluate(order, context, self.rules, self._view(order.symbol, ts), inst,
                           require_instrument=self.instruments is not None)
        state = self.state(order.symbol).value
        if verdict.denial is not None:
            code, message = verdict.denial.code.value, verdict.denial.message
            self.counters.denials[code] += 1
            self._dirty = True
            self.events.emit(EventType.ORDER_DENIED, ts, client_id=order.client_id, symbol=order.symbol,
                             side=order.side.value, qty=order.qty, reason_code=code, message=message)
            self._audit("TRADE_REJECTED", ts, client_id=order.client_id, symbol=order.symbol,
                        side=order.side.value, order_type=order.type.value, qty=order.qty, price=order.price,
                        reason_code=code, message=message, state=state)
            return CheckResult(False, code, message)
        approved = verdict.order
        assert approved is not None  # a verdict without denial carries the order
        self.book.order_times.append(ts)
        if not is_reducing(order, context.position_qty):
            self.book.trades_today += 1
        self.counters.approved += 1
        self._dirty = True
        self._audit("TRADE_APPROVED", ts, client_id=approved.client_id, symbol=approved.symbol,
                    side=approved.side.value, order_type=approved.type.value, qty=approved.qty,
                    price=approved.price, stop_loss=approved.stop_loss, reduce_only=approved.reduce_only,
                    adjustments=list(verdict.adjustments), state=state)
        return CheckResult(True, order=approved)

    def _view(self, symbol: str, ts: int) -> GateView:
        book = self.book
        book.order_times = [t for t in book.order_times if t > ts - MINUTE_MS]
        state, cause, _ = self._cause(symbol, include_global=True)
        return GateView(
            state=state, state_cause=cause,
            day_start_equity=book.day_start_equity,
            cooldown_until=max(book.cooldowns.get(symbol, 0), book.cooldowns.get(GLOBAL, 0)),
            trades_today=book.trades_today,
            orders_last_second=sum(1 for t in book.order_times if t > ts - 1000),
            orders_last_minute=len(book.order_times),
        )

    # -- hooks the engine calls ------------------------------------------------------------------------
    @serialized
    def on_mark(self, ts: int, equity: Decimal, prices: Mapping[str, Decimal] | None = None) -> None:
        """Every candle: day rollover, daily loss, drawdown from the equity peak (open positions included),
        timed resets and stage bookkeeping."""
        self._start(ts)
        self._roll_day(ts, equity)
        book = self.book
        book.peak_equity = equity if book.peak_equity is None else max(book.peak_equity, equity)
        book.last_equity = equity
        self._dirty = True
        self._timed_resets(ts)
        assert book.day_start_equity is not None and book.peak_equity is not None
        why = brk.daily_loss_trips(book.day_start_equity, equity, self.rules.max_daily_loss_pct)
        if why:
            self._trip(ts, "daily_loss", GLOBAL, why)
        why = brk.drawdown_trips(book.peak_equity, equity, self.config.breakers.drawdown.max_drawdown_pct)
        if why:
            self._trip(ts, "drawdown", GLOBAL, why)
        self._check_stale(ts)
        stage = self._stage()
        if stage is not None:
            stage.mark(ts, equity)
        self._flush(ts)

    @serialized
    def on_trade_closed(self, ts: int, symbol: str, pnl: Decimal) -> None:
        """A round trip ended: loss streaks, cool-downs, stage statistics."""
        self._start(ts)
        book, cfg = self.book, self.config
        stage = self._stage()
        if stage is not None:
            stage.trade(ts, pnl)
        if cfg.cooldown_after_trade_minutes:  # a portfolio's symbol rests after every round trip
            book.cooldowns[symbol] = ts + cfg.cooldown_after_trade_minutes * MINUTE_MS
        if pnl < 0:
            for scope in (GLOBAL, symbol):
                book.loss_streak[scope] = book.loss_streak.get(scope, 0) + 1
            if cfg.cooldown_after_loss_minutes:
                book.cooldowns[symbol] = max(book.cooldowns.get(symbol, 0),
                                             ts + cfg.cooldown_after_loss_minutes * MINUTE_MS)
            if cfg.global_cooldown_after_loss_minutes:
                book.cooldowns[GLOBAL] = ts + cfg.global_cooldown_after_loss_minutes * MINUTE_MS
            losses = cfg.breakers.consecutive_losses
            scope = symbol if losses.per_symbol else GLOBAL
            why = brk.loss_streak_trips(book.loss_streak[scope], losses.max_losses)
            if why:
                self._trip(ts, "consecutive_losses", scope, why)
        else:
            book.loss_streak[GLOBAL] = 0
            book.loss_streak[symbol] = 0
        book.cooldowns = {s: until for s, until in book.cooldowns.items() if until > ts}
        self._dirty = True
        self._flush(ts)

    @serialized
    def on_order_error(self, ts: int, symbol: str, code: str) -> None:
        """An order the exchange rejected or that failed: N of them within M minutes trip the breaker."""
        self._start(ts)
        cfg = self.config.breakers.error_rate
        scope = symbol if cfg.per_symbol else GLOBAL
        seen = [*self.book.error_times.get(scope, []), ts]
        window = brk.prune_window(seen, ts, cfg.window_minutes * MINUTE_MS)
        self.book.error_times[scope] = window
        why = brk.error_rate_trips(window, cfg.max_errors, cfg.window_minutes, code)
        if why:
            self._trip(ts, "error_rate", scope, why)
        self._flush(ts)

    @serialized
    def on_feed_health(self, ts: int, healthy: bool) -> None:
        """The market data feed's health; unhealthy for the grace period trips the stale-data breaker."""
        self._start(ts)
        cfg = self.config.breakers.stale_data
        if healthy:
            if self.book.unhealthy_since is not None:
                self.book.unhealthy_since = None
                self._dirty = True
            if cfg.reset == "recovery":
                self._reset(ts, "stale_data", GLOBAL, "recovery")
        elif self.book.unhealthy_since is None:
            self.book.unhealthy_since = ts
            self._dirty = True
        self._check_stale(ts)
        self._timed_resets(ts)
        self._flush(ts)

    def _check_stale(self, ts: int) -> None:
        cfg = self.config.breakers.stale_data
        if cfg.enabled:
            why = brk.stale_trips(self.book.unhealthy_since, ts, cfg.grace_seconds)
            if why:
                self._trip(ts, "stale_data", GLOBAL, why)

    # -- days and stages -------------------------------------------------------------------------------
    def _roll_day(self, ts: int, equity: Decimal) -> None:
        """At the first sight of a new UTC day: start-of-day equity, fresh entry count, daily-loss reset."""
        day = ts // DAY_MS
        book = self.book
        if book.day == day:
            return
        if book.day is not None and day < book.day:
            return  # a late, out-of-order timestamp does not turn the calendar back
        if book.day is not None:
            book.trades_today = 0
            if self.config.breakers.daily_loss.reset == "next_day":
                self._reset(ts, "daily_loss", GLOBAL, "day rollover")
        book.day = day
        book.day_start_equity = equity
        self._dirty = True

    def _stage(self) -> StageProgress | None:
        name = self.config.active_stage
        return None if name is None else self.book.stages.get(name)
