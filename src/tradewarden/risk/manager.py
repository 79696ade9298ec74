"""The risk manager: the one gate every order passes, and the keeper of trading state.

It wraps the pure rules (:mod:`rules`) and breaker tests (:mod:`breakers`) with the effects around them:
events, audit records and, when a store is given, the database. ``check`` does no I/O besides appending an
event and an audit record; the store is read and written in ``poll_kill_switch`` and the ``on_*`` hooks.

Its public methods hold one re-entrant lock: the runtime's kill-switch watcher halts the bot from its own
thread while the trading thread may be waiting for an exchange's answer (the lock is never held across one).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import Order
from tradewarden.domain.ports import CheckContext, CheckResult, EventSink
from tradewarden.risk import breakers as brk
from tradewarden.risk.audit import AuditTrail
from tradewarden.risk.book import RiskBook
from tradewarden.risk.breakers import DAY_MS, MINUTE_MS, Breaker
from tradewarden.risk.config import RiskConfig
from tradewarden.risk.counters import RiskCounters
from tradewarden.risk.killswitch import KillSwitchPlan, KillSwitchStatus, plan_kill_switch
from tradewarden.risk.rules import GateView, evaluate, is_reducing
from tradewarden.risk.snapshot import NODE_COMMANDS, PAUSED, OperatorCommand, RiskSnapshot
from tradewarden.risk.stages import StageProgress
from tradewarden.risk.state import BREAKER_REASON, GLOBAL, ReasonCode, TradingState


class RiskStore(Protocol):
    """What the manager needs from persistence (:class:`tradewarden.risk.store.RiskStateStore`)."""

    def kill_switch(self) -> KillSwitchStatus: ...

    def set_kill_switch(self, active: bool, reason: str, actor: str, ts: int) -> KillSwitchStatus: ...

    def acknowledge_kill_switch(self, event_id: int, bot: str, ts: int) -> None: ...

    def pending_commands(self) -> list[OperatorCommand]: ...

    def command_done(self, command_id: int, ts: int, outcome: str) -> None: ...

    def load(self) -> RiskSnapshot: ...

    def save(self, snap: RiskSnapshot, ts: int) -> None: ...


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _serialized(method: Callable[Concatenate[RiskManager, _P], _R]) -> Callable[Concatenate[RiskManager, _P], _R]:
    """Run ``method`` holding the manager's lock (see the module docstring)."""
    def locked(self: RiskManager, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self.lock:
            return method(self, *args, **kwargs)

    locked.__doc__, locked.__name__ = method.__doc__, method.__name__
    return locked


class RiskManager:
    """Implements :class:`tradewarden.domain.ports.PreTradeCheck` and the engine's risk hooks."""

    def __init__(self, config: RiskConfig, events: EventSink, audit: AuditTrail | None = None,
                 store: RiskStore | None = None, instruments: Mapping[str, Instrument] | None = None) -> None:
        self.config = config
        self.rules = config.effective()  # the active stage's limits applied
        self.events = events
        self.audit = audit
        self.store = store
        self.instruments = None if instruments is None else dict(instruments)
        self.book = RiskBook.restore(store.load()) if store is not None else RiskBook()
        self._started = False
        self._dirty = False
        self._held = 0  # inside writes_held(): the hooks leave the store write to the end of the block
        self._held_ts: int | None = None
        self._acked = 0  # the kill switch event this bot last acknowledged
        self.lock = threading.RLock()  # see the module docstring; callers may hold it over several calls

    @property
    def counters(self) -> RiskCounters:
        return self.book.counters

    # -- the gate ------------------------------------------------------------------------------------
    @_serialized
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

    # -- state ---------------------------------------------------------------------------------------
    @_serialized
    def state(self, symbol: str | None = None) -> TradingState:
        """The whole bot's state, or the state for ``symbol`` (the stricter of the bot's and the symbol's)."""
        if symbol is None:
            return self._cause(GLOBAL, include_global=False)[0]
        return self._cause(symbol, include_global=True)[0]

    def _cause(self, scope: str, include_global: bool) -> tuple[TradingState, ReasonCode | None, str]:
        """The state of ``scope`` and what causes it (the most restrictive cause wins)."""
        if self.book.kill.active and (scope == GLOBAL or include_global):
            return TradingState.HALTED, ReasonCode.KILL_SWITCH, f"kill switch: {self.book.kill.reason}"
        worst: tuple[TradingState, ReasonCode | None, str] = (TradingState.ACTIVE, None, "")
        for b in self.book.breakers.values():
            if b.tripped and (b.scope == scope or (include_global and b.scope == GLOBAL)) \
                    and b.action.severity > worst[0].severity:
                worst = (b.action, BREAKER_REASON.get(b.name, ReasonCode.MANUAL), f"{b.name}: {b.reason}")
        return worst

    def _announce(self, ts: int) -> None:
        """Emit ``TradingStateChanged`` for every scope whose state differs from the one last announced."""
        scopes = {GLOBAL} | {b.scope for b in self.book.breakers.values()} | set(self.book.announced)
        for scope in sorted(scopes):
            new, _, why = self._cause(scope, include_global=False)
            old = self.book.announced.get(scope, (TradingState.ACTIVE, "", 0))[0]
            if new is old:
                continue
            why = why or "all causes cleared"
            self.book.announced[scope] = (new, why, ts)
            self._dirty = True
            change = {"scope": scope, "from": old.value, "to": new.value, "reason": why}
            self.events.emit(EventType.TRADING_STATE_CHANGED, ts, **change)
            self._audit("STATE_CHANGED", ts, **change)

    # -- hooks the engine calls ------------------------------------------------------------------------
    @_serialized
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

    @_serialized
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

    @_serialized
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

    @_serialized
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

    # -- kill switch ---------------------------------------------------------------------------------
    @property
    def kill_switch_active(self) -> bool:
        return self.book.kill.active

    @_serialized
    def poll_kill_switch(self, ts: int) -> bool:
        """Re-read the persisted kill switch and queued operator commands; return whether the switch is on.

        The runtime calls this at least every second. While it returns True the caller should carry out
        :meth:`kill_switch_plan` (cancel entry orders; close positions if configured)."""
        self._start(ts)
        if self.store is not None:
            status = self.store.kill_switch()
            if status.active != self.book.kill.active:
                self._apply_kill_switch(ts, status)
            elif status.event_id != self.book.kill.event_id:
                # turned off and on again between two polls: the same state, but the newer event is the one a
                # waiting `kill-switch on` wants acknowledged
                self.book.kill = status
            for command in self.store.pending_commands():
                if command.kind not in NODE_COMMANDS:  # those are the node's to carry out
                    self.store.command_done(command.id, ts, self._run_command(ts, command))
        self._timed_resets(ts)
        self._flush(ts)
        return self.book.kill.active

    @_serialized
    def activate_kill_switch(self, ts: int, reason: str, actor: str) -> None:
        """Turn the kill switch on from inside the process (persisted when there is a store)."""
        self._set_kill_switch(ts, True, reason, actor)

    @_serialized
    def deactivate_kill_switch(self, ts: int, reason: str, actor: str) -> None:
        self._set_kill_switch(ts, False, reason, actor)

    def _set_kill_switch(self, ts: int, active: bool, reason: str, actor: str) -> None:
        self._start(ts)
        status = KillSwitchStatus(active, reason, actor, ts)
        if self.store is not None:
            status = self.store.set_kill_switch(active, reason, actor, ts)
        if active != self.book.kill.active:
            self._apply_kill_switch(ts, status)
        self._flush(ts)

    def _apply_kill_switch(self, ts: int, status: KillSwitchStatus) -> None:
        self.book.kill = status
        self._dirty = True
        fields = {"reason": status.reason, "actor": status.actor, "set_ts": status.ts}
        if status.active:
            self.counters.kill_switch_activations += 1
            close = self.config.kill_switch_close_positions
            self.events.emit(EventType.KILL_SWITCH_ACTIVATED, ts, close_positions=close, **fields)
            self._audit("KILL_SWITCH_ACTIVATED", ts, close_positions=close, **fields)
        else:
            self.events.emit(EventType.KILL_SWITCH_DEACTIVATED, ts, **fields)
            self._audit("KILL_SWITCH_DEACTIVATED", ts, **fields)
        self._announce(ts)

    @_serialized
    def acknowledge_kill_switch(self, ts: int, bot: str) -> bool:
        """Record in the store that ``bot`` applied the kill switch now on (once per switch event), after the
        caller carried out :meth:`kill_switch_plan`; ``kill-switch on`` waits for this."""
        kill = self.book.kill
        if self.store is None or not kill.active or not kill.event_id or kill.event_id == self._acked:
            return False
        self.store.acknowledge_kill_switch(kill.event_id, bot, ts)
        self._acked = kill.event_id
        return True

    @_serialized
    def kill_switch_plan(self, ts: int, open_orders: Iterable[Order],
                         positions: Mapping[str, Decimal]) -> KillSwitchPlan:
        """What the caller must do while the switch is on: cancel open entry orders and, if
        ``kill_switch_close_positions``, close positions at market. Empty when the switch is off."""
        if not self.book.kill.active:
            return KillSwitchPlan()
        return plan_kill_switch(ts, open_orders, positions, self.config.kill_switch_close_positions)

    # -- breakers ------------------------------------------------------------------------------------
    def breakers(self) -> list[Breaker]:
        return sorted(self.book.breakers.values(), key=lambda b: (b.name, b.scope))

    @_serialized
    def reset_breaker(self, ts: int, name: str, scope: str = GLOBAL, by: str = "operator") -> bool:
        """Reset a tripped breaker by hand; False if it was not tripped."""
        self._start(ts)
        done = self._reset(ts, name, scope, by)
        self._flush(ts)
        return done

    @_serialized
    def set_manual_state(self, ts: int, scope: str, state: TradingState, reason: str) -> None:
        """An operator's own HALTED/REDUCING for a scope (``global`` or a symbol); ACTIVE lifts it."""
        self._start(ts)
        if state is TradingState.ACTIVE:
            self._reset(ts, "manual", scope, "operator")
        else:
            self._reset(ts, "manual", scope, "operator")  # replace a different manual state
            self._trip(ts, "manual", scope, reason, action=state.value)
        self._flush(ts)

    def _breaker_policy(self, name: str) -> tuple[str, str, int | None]:
        """(action, reset description, minutes until a timed reset) for a breaker."""
        b = self.config.breakers
        if name == "daily_loss":
            return b.daily_loss.action, b.daily_loss.reset, None
        if name == "stale_data":
            s = b.stale_data
            return s.action, s.reset, s.reset_after_minutes if s.reset == "timed" else None
        if name in ("drawdown", "consecutive_losses", "error_rate"):
            c = getattr(b, name)
            return c.action, c.reset, c.reset_after_minutes if c.reset == "timed" else None
        return TradingState.HALTED.value, "manual", None

    def _trip(self, ts: int, name: str, scope: str, reason: str, action: str | None = None) -> None:
        current = self.book.breakers.get((name, scope))
        if current is not None and current.tripped:
            return
        default_action, reset, minutes = self._breaker_policy(name)
        b = brk.tripped(name, scope, ts, action or default_action, reason, minutes)
        self.book.breakers[(name, scope)] = b
        self.counters.breaker_trips[name] += 1
        self._dirty = True
        fields = {"breaker": name, "scope": scope, "action": b.action.value, "reason": reason, "reset": reset,
                  "reset_after_ts": b.reset_after_ts}
        self.events.emit(EventType.CIRCUIT_BREAKER_TRIPPED, ts, **fields)
        self._audit("BREAKER_TRIPPED", ts, **fields)
        self._announce(ts)

    def _reset(self, ts: int, name: str, scope: str, by: str) -> bool:
        b = self.book.breakers.get((name, scope))
        if b is None or not b.tripped:
            return False
        self.book.breakers[(name, scope)] = dataclasses.replace(b, tripped=False, reset_after_ts=None)
        book = self.book
        # Start the measure afresh, or the breaker would trip again on the very next mark.
        if name == "drawdown":
            book.peak_equity = book.last_equity
        elif name == "daily_loss":
            book.day_start_equity = book.last_equity
        elif name == "consecutive_losses":
            book.loss_streak[scope] = 0
        elif name == "error_rate":
            book.error_times.pop(scope, None)
        elif name == "stale_data" and by != "recovery":
            book.unhealthy_since = None
        self._dirty = True
        fields = {"breaker": name, "scope": scope, "by": by}
        self.events.emit(EventType.CIRCUIT_BREAKER_RESET, ts, **fields)
        self._audit("BREAKER_RESET", ts, **fields)
        self._announce(ts)
        return True

    def _timed_resets(self, ts: int) -> None:
        for b in list(self.book.breakers.values()):
            if b.due_for_reset(ts):
                self._reset(ts, b.name, b.scope, "timer")

    def _run_command(self, ts: int, command: OperatorCommand) -> str:
        by = f"operator {command.actor}: {command.reason}".strip()
        if command.kind == "pause_entries":
            current = self.book.breakers.get((PAUSED, command.scope))
            if current is not None and current.tripped:
                return f"entries already paused ({command.scope})"
            self._trip(ts, PAUSED, command.scope, by, action=TradingState.REDUCING.value)
            return f"entries paused ({command.scope}): exits still pass"
        if command.kind == "resume":
            if self._reset(ts, PAUSED, command.scope, by):
                return f"entries resumed ({command.scope})"
            return f"entries were not paused ({command.scope})"
        if command.kind != "reset_breaker":
            return f"unknown command {command.kind!r}"
        targets = [b for b in self.breakers() if b.tripped] if command.target == "all" \
            else [b for b in self.breakers() if (b.name, b.scope) == (command.target, command.scope)]
        done = [f"{b.name}@{b.scope}" for b in targets
                if self._reset(ts, b.name, b.scope, by)]
        return "reset " + ", ".join(done) if done else "nothing to reset (not tripped)"

    # -- days, stages, persistence ---------------------------------------------------------------------
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

    def _start(self, ts: int) -> None:
        """At the first call with a timestamp: record a stage change and announce restored states."""
        if self._started:
            return
        self._started = True
        name = self.config.active_stage
        if name != self.book.recorded_stage:
            self._audit("STAGE_CHANGED", ts, from_stage=self.book.recorded_stage, to_stage=name,
                        limits={k: v for k, v in self.rules.model_dump(mode="json").items()
                                if k in ("risk_per_trade_pct", "max_daily_loss_pct", "max_trades_per_day",
                                         "max_position_notional", "max_open_positions")})
            self.book.recorded_stage = name
            self._dirty = True
        if name is not None and name not in self.book.stages:
            self.book.stages[name] = StageProgress(name, ts, ts)
        self._announce(ts)

    def _stage(self) -> StageProgress | None:
        name = self.config.active_stage
        return None if name is None else self.book.stages.get(name)

    def _audit(self, type_: str, ts: int, **fields: Any) -> None:
        if self.audit is not None:
            self.audit.append(type_, ts, **fields)
            if self._held:  # the trail's head is written with the state, when the step ends
                self._held_ts = ts

    def _flush(self, ts: int) -> None:
        if self._held:
            if self._dirty or (self.audit is not None and self.audit.pending):
                self._held_ts = ts
            return
        self._write(ts)

    def _write(self, ts: int) -> None:
        if self.store is not None and self._dirty:
            self.store.save(self.book.snapshot(), ts)
        self._dirty = False
        if self.audit is not None:
            self.audit.sync(ts)  # the head of an account's trail, after the records it covers

    @contextmanager
    def writes_held(self) -> Iterator[None]:
        """Within the block the hooks change the state in memory only; it is written once, when the block ends
        (stamped with the time of the last hook that changed it, as the last of the separate writes would have
        been).

        The runtime wraps each candle step in it, so the database write of the candle's mark follows the order
        the candle causes instead of delaying it. Events and audit records are still written at once. A crash
        inside the block loses only state the restart recomputes: the session resumes from the step before,
        so the candle is marked again.
        """
        with self.lock:
            self._held += 1
        try:
            yield
        finally:
            with self.lock:
                self._held -= 1
                if not self._held and self._held_ts is not None:
                    ts, self._held_ts = self._held_ts, None
                    self._write(ts)

    @_serialized
    def flush(self, ts: int) -> None:
        """Write the state to the store now, inside :meth:`writes_held` too (denial counters from ``check``
        are otherwise written at the next hook call)."""
        self._dirty = True
        self._write(ts)
