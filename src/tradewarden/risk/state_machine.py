"""The risk manager's trading-state machine: what state each scope is in, and every change to it.

A scope (the whole bot, ``global``, or one symbol) is ACTIVE unless the kill switch or a tripped breaker makes
it REDUCING or HALTED; the most restrictive cause wins. This module trips and resets breakers (their policy
from the configuration, timed resets, the measure restarted on a reset), turns the kill switch on and off (from
the store or from inside the process), carries out the operator's queued commands (pause entries, resume,
reset breakers) and announces each state change as an event and an audit record. The pure breaker tests live
in :mod:`tradewarden.risk.breakers`; the gate that reads the state is :class:`tradewarden.risk.manager.RiskManager`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from decimal import Decimal

from tradewarden.domain.events import EventType
from tradewarden.domain.orders import Order
from tradewarden.risk import breakers as brk
from tradewarden.risk.breakers import Breaker
from tradewarden.risk.killswitch import KillSwitchPlan, KillSwitchStatus, plan_kill_switch
from tradewarden.risk.snapshot import NODE_COMMANDS, PAUSED, OperatorCommand
from tradewarden.risk.stages import StageProgress
from tradewarden.risk.state import BREAKER_REASON, GLOBAL, ReasonCode, TradingState
from tradewarden.risk.state_writes import StateWrites, serialized


class TradingStateMachine(StateWrites):
    """Trading states, breakers, the kill switch and operator commands (see the module docstring)."""

    # -- state ---------------------------------------------------------------------------------------
    @serialized
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

    # -- kill switch ---------------------------------------------------------------------------------
    @property
    def kill_switch_active(self) -> bool:
        return self.book.kill.active

    @serialized
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

    @serialized
    def activate_kill_switch(self, ts: int, reason: str, actor: str) -> None:
        """Turn the kill switch on from inside the process (persisted when there is a store)."""
        self._set_kill_switch(ts, True, reason, actor)

    @serialized
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

    @serialized
    def acknowledge_kill_switch(self, ts: int, bot: str) -> bool:
        """Record in the store that ``bot`` applied the kill switch now on (once per switch event), after the
        caller carried out :meth:`kill_switch_plan`; ``kill-switch on`` waits for this."""
        kill = self.book.kill
        if self.store is None or not kill.active or not kill.event_id or kill.event_id == self._acked:
            return False
        self.store.acknowledge_kill_switch(kill.event_id, bot, ts)
        self._acked = kill.event_id
        return True

    @serialized
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

    @serialized
    def reset_breaker(self, ts: int, name: str, scope: str = GLOBAL, by: str = "operator") -> bool:
        """Reset a tripped breaker by hand; False if it was not tripped."""
        self._start(ts)
        done = self._reset(ts, name, scope, by)
        self._flush(ts)
        return done

    @serialized
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
