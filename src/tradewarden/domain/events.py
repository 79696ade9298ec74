"""The catalogue of events: every type the bot emits, the fields each one carries, and the naming rule.

``EventType`` is a ``StrEnum``, so a member is its own string: ``events.jsonl`` reads exactly as before and a
reader can compare ``record["type"] == EventType.FILL``. Each member has one payload type (a ``TypedDict``
of the fields after the envelope ``ts``/``time``/``type``) in :data:`PAYLOADS`, and one :class:`Category`.

Naming rule (docs/EVENTS.md): the safety gate's records are SCREAMING_SNAKE, everything else PascalCase. The
gate is what decides or proves whether the bot may act on an account at all: the boot seal, the safety checks,
a refused arming or audit trail, a state migration, a confirmed reconciliation mismatch and the halt it causes,
an order shadow mode withheld. An operator audits these, a backtest never emits them. Everything else (the
run's lifecycle, market data, orders and fills, the risk layer's state machine, the venue's plumbing) is
PascalCase. ``tests/domain/test_events.py`` holds every member to the rule.

The payload types live in :mod:`tradewarden.domain.event_payloads`.
"""

import typing
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from types import NoneType, UnionType
from typing import Any

from tradewarden.domain import event_payloads as p


class Category(StrEnum):
    RUN = "run"                  # a run's start and end, data gaps
    ORDERS = "orders"            # orders, fills, positions: the trading flow
    RISK = "risk"                # the risk layer's state machine (kill switch, breakers, trading states)
    GATE = "gate"                # the safety gate between the bot and an account: SCREAMING_SNAKE
    SESSION = "session"          # a live/paper/shadow session's own lifecycle
    VENUE = "venue"              # the exchange venue's plumbing
    MARKET_DATA = "market_data"  # the feed and the exchange retry policy


class EventType(StrEnum):
    # run
    RUN_STARTED = "RunStarted"
    RUN_FINISHED = "RunFinished"
    DATA_GAP = "DataGap"
    # orders, fills, positions
    ORDER_PLACED = "OrderPlaced"
    ORDER_DENIED = "OrderDenied"
    ORDER_REJECTED = "OrderRejected"
    ORDER_CANCELLED = "OrderCancelled"
    FILL = "Fill"
    POSITION_OPENED = "PositionOpened"
    POSITION_CLOSED = "PositionClosed"
    ORDER_ADOPTED = "OrderAdopted"
    POSITION_ADOPTED = "PositionAdopted"
    MESSAGE_REJECTED = "MessageRejected"
    # risk
    TRADING_STATE_CHANGED = "TradingStateChanged"
    CIRCUIT_BREAKER_TRIPPED = "CircuitBreakerTripped"
    CIRCUIT_BREAKER_RESET = "CircuitBreakerReset"
    KILL_SWITCH_ACTIVATED = "KillSwitchActivated"
    KILL_SWITCH_DEACTIVATED = "KillSwitchDeactivated"
    # the safety gate
    BOOT_SEAL = "BOOT_SEAL"
    SAFETY_CHECKS = "SAFETY_CHECKS"
    SHADOW_SAFETY_OK = "SHADOW_SAFETY_OK"
    LIVE_ARM_FAILED = "LIVE_ARM_FAILED"
    STATE_MIGRATED = "STATE_MIGRATED"
    AUDIT_TRAIL_REFUSED = "AUDIT_TRAIL_REFUSED"
    INSTANCE_REFUSED = "INSTANCE_REFUSED"
    LEASE_TAKEN_OVER = "LEASE_TAKEN_OVER"
    LEASE_LOST = "LEASE_LOST"
    FOREIGN_WRITER = "FOREIGN_WRITER"
    FILTERS_MISMATCH = "FILTERS_MISMATCH"
    FILTERS_CHANGED = "FILTERS_CHANGED"
    MARKET_UNAVAILABLE = "MARKET_UNAVAILABLE"
    RECONCILE_MISMATCH = "RECONCILE_MISMATCH"
    HALTED_OPS = "HALTED_OPS"
    SHADOW_ORDER = "SHADOW_ORDER"
    # session
    WARM_UP_DONE = "WarmUpDone"
    CAUGHT_UP = "CaughtUp"
    SESSION_RESUMED = "SessionResumed"
    HEARTBEAT = "Heartbeat"
    RECONCILE_OK = "ReconcileOk"
    RECONCILE_SUSPECT = "ReconcileSuspect"
    RECONCILE_SKIPPED = "ReconcileSkipped"
    DAILY_SUMMARY = "DailySummary"
    EQUITY_SAMPLE = "EquitySample"
    PARAMS_RELOADED = "ParamsReloaded"
    PARAMS_RELOAD_FAILED = "ParamsReloadFailed"
    PARAMS_REOPTIMIZED = "ParamsReoptimized"
    # venue
    ORDER_AMBIGUOUS = "OrderAmbiguous"
    ORDER_RESOLVED = "OrderResolved"
    ORDER_RESENT = "OrderResent"
    ORDER_ACKNOWLEDGED = "OrderAcknowledged"
    EXCHANGE_FILL = "ExchangeFill"
    CLOCK_RESYNCED = "ClockResynced"
    VENUE_ERROR = "VenueError"
    # market data
    FEED_CONNECTED = "FeedConnected"
    FEED_RECONNECTED = "FeedReconnected"
    FEED_RECOVERED = "FeedRecovered"
    FEED_STALE = "FeedStale"
    FEED_FALLBACK_REST = "FeedFallbackRest"
    CANDLE_BACKFILLED = "CandleBackfilled"
    HISTORY_FROM_CACHE = "HistoryFromCache"
    HISTORY_CACHE_MISS = "HistoryCacheMiss"
    BARS_MISSING = "BarsMissing"
    BAR_LATE = "BarLate"
    EXCHANGE_RETRY = "ExchangeRetry"
    EXCHANGE_GAVE_UP = "ExchangeGaveUp"


E = EventType
_C = Category
# (payload type, category) of every member
_CATALOGUE: dict[EventType, tuple[type, Category]] = {
    E.RUN_STARTED: (p.RunStarted, _C.RUN),
    E.RUN_FINISHED: (p.RunFinished, _C.RUN),
    E.DATA_GAP: (p.DataGap, _C.RUN),
    E.ORDER_PLACED: (p.OrderPlaced, _C.ORDERS),
    E.ORDER_DENIED: (p.OrderDenied, _C.ORDERS),
    E.ORDER_REJECTED: (p.OrderEnded, _C.ORDERS),
    E.ORDER_CANCELLED: (p.OrderEnded, _C.ORDERS),
    E.FILL: (p.FillPayload, _C.ORDERS),
    E.POSITION_OPENED: (p.PositionOpened, _C.ORDERS),
    E.POSITION_CLOSED: (p.PositionClosed, _C.ORDERS),
    E.ORDER_ADOPTED: (p.OrderAdopted, _C.ORDERS),
    E.POSITION_ADOPTED: (p.PositionAdopted, _C.ORDERS),
    E.MESSAGE_REJECTED: (p.MessageRejected, _C.ORDERS),
    E.TRADING_STATE_CHANGED: (p.TradingStateChanged, _C.RISK),
    E.CIRCUIT_BREAKER_TRIPPED: (p.CircuitBreakerTripped, _C.RISK),
    E.CIRCUIT_BREAKER_RESET: (p.CircuitBreakerReset, _C.RISK),
    E.KILL_SWITCH_ACTIVATED: (p.KillSwitchActivated, _C.RISK),
    E.KILL_SWITCH_DEACTIVATED: (p.KillSwitchDeactivated, _C.RISK),
    E.BOOT_SEAL: (p.BootSeal, _C.GATE),
    E.SAFETY_CHECKS: (p.SafetyChecks, _C.GATE),
    E.SHADOW_SAFETY_OK: (p.ShadowSafetyOk, _C.GATE),
    E.LIVE_ARM_FAILED: (p.LiveArmFailed, _C.GATE),
    E.STATE_MIGRATED: (p.StateMigrated, _C.GATE),
    E.AUDIT_TRAIL_REFUSED: (p.AuditTrailRefused, _C.GATE),
    E.INSTANCE_REFUSED: (p.InstanceRefused, _C.GATE),
    E.LEASE_TAKEN_OVER: (p.LeaseTakenOver, _C.GATE),
    E.LEASE_LOST: (p.LeaseLost, _C.GATE),
    E.FOREIGN_WRITER: (p.ForeignWriter, _C.GATE),
    E.FILTERS_MISMATCH: (p.FiltersRefused, _C.GATE),
    E.FILTERS_CHANGED: (p.FiltersRefused, _C.GATE),
    E.MARKET_UNAVAILABLE: (p.FiltersRefused, _C.GATE),
    E.RECONCILE_MISMATCH: (p.ReconcileMismatch, _C.GATE),
    E.HALTED_OPS: (p.HaltedOps, _C.GATE),
    E.SHADOW_ORDER: (p.ShadowOrder, _C.GATE),
    E.WARM_UP_DONE: (p.WarmUpDone, _C.SESSION),
    E.HEARTBEAT: (p.Heartbeat, _C.SESSION),
    E.CAUGHT_UP: (p.CaughtUp, _C.SESSION),
    E.SESSION_RESUMED: (p.SessionResumed, _C.SESSION),
    E.RECONCILE_OK: (p.ReconcileOk, _C.SESSION),
    E.RECONCILE_SUSPECT: (p.ReconcileSuspect, _C.SESSION),
    E.RECONCILE_SKIPPED: (p.ReconcileSkipped, _C.SESSION),
    E.DAILY_SUMMARY: (p.DailySummary, _C.SESSION),
    E.EQUITY_SAMPLE: (p.EquitySample, _C.SESSION),
    E.PARAMS_RELOADED: (p.ParamsReloaded, _C.SESSION),
    E.PARAMS_RELOAD_FAILED: (p.ParamsReloadFailed, _C.SESSION),
    E.PARAMS_REOPTIMIZED: (p.ParamsReoptimized, _C.SESSION),
    E.ORDER_AMBIGUOUS: (p.OrderAmbiguous, _C.VENUE),
    E.ORDER_RESOLVED: (p.OrderResolved, _C.VENUE),
    E.ORDER_RESENT: (p.OrderResent, _C.VENUE),
    E.ORDER_ACKNOWLEDGED: (p.OrderAcknowledged, _C.VENUE),
    E.EXCHANGE_FILL: (p.ExchangeFill, _C.VENUE),
    E.CLOCK_RESYNCED: (p.ClockResynced, _C.VENUE),
    E.VENUE_ERROR: (p.VenueError, _C.VENUE),
    E.FEED_CONNECTED: (p.FeedUp, _C.MARKET_DATA),
    E.FEED_RECONNECTED: (p.FeedUp, _C.MARKET_DATA),
    E.FEED_RECOVERED: (p.FeedUp, _C.MARKET_DATA),
    E.FEED_STALE: (p.FeedStale, _C.MARKET_DATA),
    E.FEED_FALLBACK_REST: (p.FeedFallbackRest, _C.MARKET_DATA),
    E.CANDLE_BACKFILLED: (p.CandleBackfilled, _C.MARKET_DATA),
    E.HISTORY_FROM_CACHE: (p.HistoryFromCache, _C.MARKET_DATA),
    E.HISTORY_CACHE_MISS: (p.HistoryCacheMiss, _C.MARKET_DATA),
    E.BARS_MISSING: (p.BarsMissing, _C.MARKET_DATA),
    E.BAR_LATE: (p.BarLate, _C.MARKET_DATA),
    E.EXCHANGE_RETRY: (p.ExchangeRetry, _C.MARKET_DATA),
    E.EXCHANGE_GAVE_UP: (p.ExchangeGaveUp, _C.MARKET_DATA),
}
PAYLOADS: Mapping[EventType, type] = {e: p for e, (p, _) in _CATALOGUE.items()}
CATEGORIES: Mapping[EventType, Category] = {e: c for e, (_, c) in _CATALOGUE.items()}


# -- checking an event against its payload ----------------------------------------------------------------------
@cache
def _fields_of(payload: type) -> tuple[dict[str, Any], frozenset[str]]:
    """(name -> type, required names) of a payload TypedDict."""
    hints = typing.get_type_hints(payload)  # NotRequired[...] stripped
    required: frozenset[str] = payload.__required_keys__  # type: ignore[attr-defined]
    return hints, required


def _fits(value: object, hint: Any) -> bool:
    """Whether ``value`` (as emitted, or as read back from JSON) has the type ``hint``."""
    if hint is Any or hint is object:
        return True
    if hint is NoneType:
        return value is None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is UnionType:
        return any(_fits(value, arg) for arg in typing.get_args(hint))
    if origin is dict:
        return isinstance(value, Mapping)
    if origin is list:
        return isinstance(value, list | tuple)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def payload_problems(type_: str, fields: Mapping[str, object]) -> list[str]:
    """What is wrong with an event's fields against its type's payload (empty when nothing is).

    Names exactly (every required field present, no field the payload does not declare) and types (a JSON
    record read back from events.jsonl passes too: decimals are their text, tuples lists)."""
    try:
        event = EventType(type_)
    except ValueError:
        return [f"{type_!r} is not an EventType"]
    hints, required = _fields_of(PAYLOADS[event])
    problems = [f"{event}: missing field {name!r}" for name in sorted(required - fields.keys())]
    problems += [f"{event}: undeclared field {name!r}" for name in sorted(fields.keys() - hints.keys())]
    problems += [f"{event}: field {name!r} = {value!r} is not {hints[name]}"
                 for name, value in fields.items() if name in hints and not _fits(value, hints[name])]
    return problems
