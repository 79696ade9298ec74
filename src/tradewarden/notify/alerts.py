"""Which events are worth telling the operator, and how urgently: one event in, one alert (or none) out.

A pure function, :func:`classify`, like the risk rules: no I/O, no clock, no state. The rules that need memory
(reconnects per hour, no candle, no trade, the day's loss, the rolling Sharpe) are in
:mod:`tradewarden.notify.watch`; repeats are collapsed in :mod:`tradewarden.notify.collapse`.

Severity: ``critical`` means trading is halted, refused or at risk now (kill switch on, a breaker, HALTED,
a reconciliation mismatch, a refused start, the day's loss past the alert level); ``warning`` needs a look soon
(started, stopped, restarted after a crash, kill switch off, an order the exchange rejected, a stale feed);
``info`` can wait for the daily summary (parameters reloaded, trading ACTIVE again, bars missing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from tradewarden.domain.events import EventType

E = EventType
SESSION_MODES = frozenset({"paper", "shadow", "live"})


class Severity(IntEnum):
    INFO = 0
    WARNING = 1
    CRITICAL = 2

    @classmethod
    def named(cls, name: str) -> Severity:
        return cls[name.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing to tell: ``kind`` and ``subject`` identify repeats (the same breaker on the same scope),
    ``count`` is how many occurrences the message stands for (more than one once repeats are collapsed)."""

    kind: str
    subject: str
    severity: Severity
    text: str
    ts: int
    count: int = 1


_Rule = Callable[[Mapping[str, Any]], tuple[str, str, Severity, str] | None]
CRIT, WARN, INFO = Severity.CRITICAL, Severity.WARNING, Severity.INFO


def _s(record: Mapping[str, Any], name: str, default: str = "?") -> str:
    value = record.get(name)
    return default if value is None or value == "" else str(value)


def _started(r: Mapping[str, Any]) -> tuple[str, str, Severity, str] | None:
    if r.get("mode") not in SESSION_MODES:
        return None  # a backtest
    strategy = r.get("strategy")
    name = strategy.get("name") if isinstance(strategy, Mapping) else None
    symbols = r.get("symbols") or ([r["symbol"]] if r.get("symbol") else [])
    what = f"{name or 'strategy'} on {', '.join(map(str, symbols)) or '?'}"
    config = _s(r, "config_hash", "")[:12]
    return "bot_started", "run", WARN, f"bot started: {r['mode']}, {what}" + (f", config {config}" if config else "")


def _finished(r: Mapping[str, Any]) -> tuple[str, str, Severity, str] | None:
    if r.get("mode") not in SESSION_MODES:
        return None
    equity = r.get("final_equity")
    tail = "" if equity is None else f", final equity {equity}"
    return ("bot_stopped", "run", WARN, f"bot stopped ({_s(r, 'reason', 'no reason given')}): "
            f"{_s(r, 'candles', '0')} candles, {_s(r, 'trades', '0')} trades{tail}")


def _resumed(r: Mapping[str, Any]) -> tuple[str, str, Severity, str] | None:
    if r.get("after_crash") is not True:
        return None  # a clean stop's account carried over: nothing went wrong
    return ("restarted_after_crash", "run", WARN, f"bot restarted after an unclean stop: resumed after candle "
            f"{_s(r, 'last_candle', 'none')} with {_s(r, 'open_orders', '0')} open order(s)")


def _kill_on(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    closing = " (closing positions)" if r.get("close_positions") else ""
    return "kill_switch_on", "global", CRIT, f"KILL SWITCH ON by {_s(r, 'actor')}: {_s(r, 'reason')}{closing}"


def _kill_off(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    return "kill_switch_off", "global", WARN, (f"kill switch off by {_s(r, 'actor')}: "
                                            f"{_s(r, 'reason', 'no reason given')}")


def _tripped(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    b, scope = _s(r, "breaker"), _s(r, "scope")
    return ("breaker_tripped", f"{b}/{scope}", CRIT, f"breaker {b} tripped ({scope}): {_s(r, 'action')}, "
            f"{_s(r, 'reason')}; resets {_s(r, 'reset')}")


def _reset(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    b, scope = _s(r, "breaker"), _s(r, "scope")
    return "breaker_reset", f"{b}/{scope}", WARN, f"breaker {b} reset ({scope}) by {_s(r, 'by')}"


_STATE_SEVERITY = {"HALTED": CRIT, "REDUCING": WARN, "ACTIVE": INFO}


def _state(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    scope, to = _s(r, "scope"), _s(r, "to")
    # the subject names the new state: HALTED then ACTIVE on one scope are two messages, not one repeated
    return ("trading_state", f"{scope}:{to}", _STATE_SEVERITY.get(to, WARN),
            f"trading state of {scope}: {_s(r, 'from')} -> {to} ({_s(r, 'reason')})")


def _mismatch(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    found = [m for m in r.get("mismatches") or [] if isinstance(m, Mapping)]
    first = f": {_s(found[0], 'kind')} {_s(found[0], 'subject')}" if found else ""
    more = f" and {len(found) - 1} more" if len(found) > 1 else ""
    adopted = " (adopted)" if r.get("adopted") else "; new orders halted until an operator decides"
    return "reconcile_mismatch", "account", CRIT, f"RECONCILE_MISMATCH{first}{more}{adopted}"


def _halted(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    return "halted_ops", "account", CRIT, f"HALTED_OPS: {_s(r, 'reason')}. What to do: {_s(r, 'what_to_do')}"


def _arm_failed(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    return ("live_arm_failed", _s(r, "mode"), CRIT, f"LIVE_ARM_FAILED ({_s(r, 'reason')}): {_s(r, 'message')}")


def _refused(kind: EventType) -> _Rule:
    def rule(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
        return "refused_to_start", str(kind), CRIT, f"refused to start, {kind}: {_s(r, 'message', _s(r, 'reason'))}"
    return rule


def _rejected(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    symbol = _s(r, "symbol")
    return ("order_rejected", symbol, WARN, f"order {_s(r, 'client_id')} on {symbol} rejected by the exchange: "
            f"{_s(r, 'reason')}")


def _stale(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    silence = r.get("silence_s")
    quiet = f"{float(silence):.0f} s" if isinstance(silence, int | float) else "a while"
    exchange = _s(r, "exchange")
    return "feed_stale", exchange, WARN, f"market data from {exchange} stale: no data for {quiet} ({_s(r, 'mode')})"


def _bars_missing(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    symbols = ", ".join(map(str, r.get("symbols") or []))
    return "bars_missing", symbols, INFO, f"{_s(r, 'timeframe')} bar missing for {symbols} at the grace deadline"


def _reloaded(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    return "params_reloaded", "params", INFO, f"parameters reloaded from {_s(r, 'file')}: {r.get('params')}"


def _reload_failed(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    return ("params_reload_failed", "params", WARN, f"parameter file {_s(r, 'file')} not applied (the running "
            f"parameters stay): {_s(r, 'error')}")


def _reoptimized(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    """Re-optimization is rare (every few days) and changes what trades: told at once, whatever its outcome."""
    outcome = _s(r, "outcome")
    figures = ""
    if isinstance(r.get("current_sharpe"), int | float) and isinstance(r.get("new_sharpe"), int | float):
        figures = f" (holdout Sharpe {float(r['current_sharpe']):.2f} live, {float(r['new_sharpe']):.2f} new)"
    what = {"applied": f"new parameters applied to {_s(r, 'file')}: {r.get('new_params')}",
            "kept": "live parameters kept: the new ones did not beat them by the margin",
            }.get(outcome, f"re-optimization failed: {_s(r, 'reason')}")
    return "params_reoptimized", "params", WARN, f"re-optimization {outcome}{figures}; {what}"


def _lease_lost(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    return "lease_lost", "account", CRIT, f"account lease lost, the bot stops: {_s(r, 'message')}"


def _foreign(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    n = len(r.get("orders") or [])
    return "foreign_writer", "account", CRIT, f"FOREIGN_WRITER: {n} order(s) on the account that this bot did not place"


def _gave_up(r: Mapping[str, Any]) -> tuple[str, str, Severity, str]:
    call = _s(r, "call")
    return ("exchange_gave_up", call, WARN, f"exchange call {call} failed after {_s(r, 'attempts')} attempts: "
            f"{_s(r, 'error')} {_s(r, 'message', '')}".rstrip())


RULES: Mapping[EventType, _Rule] = {
    E.RUN_STARTED: _started,
    E.RUN_FINISHED: _finished,
    E.SESSION_RESUMED: _resumed,
    E.KILL_SWITCH_ACTIVATED: _kill_on,
    E.KILL_SWITCH_DEACTIVATED: _kill_off,
    E.CIRCUIT_BREAKER_TRIPPED: _tripped,
    E.CIRCUIT_BREAKER_RESET: _reset,
    E.TRADING_STATE_CHANGED: _state,
    E.RECONCILE_MISMATCH: _mismatch,
    E.HALTED_OPS: _halted,
    E.LIVE_ARM_FAILED: _arm_failed,
    E.INSTANCE_REFUSED: _refused(E.INSTANCE_REFUSED),
    E.AUDIT_TRAIL_REFUSED: _refused(E.AUDIT_TRAIL_REFUSED),
    E.FILTERS_MISMATCH: _refused(E.FILTERS_MISMATCH),
    E.FILTERS_CHANGED: _refused(E.FILTERS_CHANGED),
    E.MARKET_UNAVAILABLE: _refused(E.MARKET_UNAVAILABLE),
    E.ORDER_REJECTED: _rejected,
    E.FEED_STALE: _stale,
    E.BARS_MISSING: _bars_missing,
    E.PARAMS_RELOADED: _reloaded,
    E.PARAMS_RELOAD_FAILED: _reload_failed,
    E.PARAMS_REOPTIMIZED: _reoptimized,
    E.LEASE_LOST: _lease_lost,
    E.FOREIGN_WRITER: _foreign,
    E.EXCHANGE_GAVE_UP: _gave_up,
}


def classify(kind: EventType, record: Mapping[str, Any], ts: int) -> Alert | None:
    """The alert one event makes on its own, or None (most events: fills, candles, heartbeats)."""
    rule = RULES.get(kind)
    found = None if rule is None else rule(record)
    if found is None:
        return None
    alert_kind, subject, severity, text = found
    return Alert(alert_kind, subject, severity, text, ts)
