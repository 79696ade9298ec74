"""Reading and writing the risk layer's rows. Every function works inside the caller's session (transaction).

The records are plain values so callers never hold ORM objects outside a session.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tradewarden.persistence.models import (
    BreakerRow,
    CooldownRow,
    CounterRow,
    KillSwitchEvent,
    OperatorRequest,
    StageProgressRow,
    TradingStateRow,
)


@dataclass(frozen=True)
class KillSwitchRecord:
    active: bool
    reason: str
    actor: str
    ts: int


@dataclass(frozen=True)
class BreakerRecord:
    name: str
    scope: str
    tripped: bool
    action: str
    reason: str
    tripped_ts: int | None
    reset_after_ts: int | None


@dataclass(frozen=True)
class StageRecord:
    stage: str
    active: bool
    first_ts: int
    last_ts: int
    trades: int
    losing_trades: int
    pnl: Decimal
    largest_loss: Decimal
    peak_equity: Decimal
    max_drawdown_pct: Decimal


@dataclass(frozen=True)
class RequestRecord:
    id: int
    kind: str
    target: str
    scope: str
    reason: str
    actor: str
    ts: int


@dataclass(frozen=True)
class StateRecord:
    scope: str
    state: str
    reason: str
    changed_ts: int


# -- kill switch -------------------------------------------------------------------------------------
def record_kill_switch(s: Session, active: bool, reason: str, actor: str, ts: int) -> KillSwitchRecord:
    s.add(KillSwitchEvent(active=active, reason=reason, actor=actor, ts=ts))
    return KillSwitchRecord(active, reason, actor, ts)


def _ks(row: KillSwitchEvent) -> KillSwitchRecord:
    return KillSwitchRecord(row.active, row.reason, row.actor, row.ts)


def latest_kill_switch(s: Session) -> KillSwitchRecord | None:
    row = s.scalars(select(KillSwitchEvent).order_by(KillSwitchEvent.id.desc()).limit(1)).first()
    return None if row is None else _ks(row)


def kill_switch_history(s: Session, limit: int = 20) -> list[KillSwitchRecord]:
    """Newest first."""
    rows = s.scalars(select(KillSwitchEvent).order_by(KillSwitchEvent.id.desc()).limit(limit))
    return [_ks(r) for r in rows]


# -- breakers ----------------------------------------------------------------------------------------
def save_breaker(s: Session, b: BreakerRecord, ts: int) -> None:
    s.merge(BreakerRow(name=b.name, scope=b.scope, tripped=b.tripped, action=b.action, reason=b.reason,
                       tripped_ts=b.tripped_ts, reset_after_ts=b.reset_after_ts, updated_ts=ts))


def load_breakers(s: Session) -> list[BreakerRecord]:
    return [BreakerRecord(r.name, r.scope, r.tripped, r.action, r.reason, r.tripped_ts, r.reset_after_ts)
            for r in s.scalars(select(BreakerRow).order_by(BreakerRow.name, BreakerRow.scope))]


# -- counters ----------------------------------------------------------------------------------------
def save_counters(s: Session, values: dict[tuple[str, str], Decimal], ts: int) -> None:
    """Upsert each ``(name, scope) -> value``; counters not named are left as they are."""
    for (name, scope), value in values.items():
        s.merge(CounterRow(name=name, scope=scope, value=value, updated_ts=ts))


def load_counters(s: Session) -> dict[tuple[str, str], Decimal]:
    return {(r.name, r.scope): r.value for r in s.scalars(select(CounterRow))}


def delete_counters(s: Session, name: str) -> None:
    s.execute(delete(CounterRow).where(CounterRow.name == name))


# -- cool-downs --------------------------------------------------------------------------------------
def save_cooldowns(s: Session, until: dict[str, int], reason: str = "losing trade") -> None:
    """Replace all cool-downs with ``until`` (scope -> end ms)."""
    s.execute(delete(CooldownRow))
    for scope, ts in until.items():
        s.add(CooldownRow(scope=scope, until_ts=ts, reason=reason))


def load_cooldowns(s: Session) -> dict[str, int]:
    return {r.scope: r.until_ts for r in s.scalars(select(CooldownRow))}


# -- trading states ----------------------------------------------------------------------------------
def save_state(s: Session, rec: StateRecord) -> None:
    s.merge(TradingStateRow(scope=rec.scope, state=rec.state, reason=rec.reason, changed_ts=rec.changed_ts))


def load_states(s: Session) -> list[StateRecord]:
    return [StateRecord(r.scope, r.state, r.reason, r.changed_ts)
            for r in s.scalars(select(TradingStateRow).order_by(TradingStateRow.scope))]


# -- stages ------------------------------------------------------------------------------------------
def save_stage(s: Session, rec: StageRecord) -> None:
    if rec.active:  # only one stage is the active one
        for other in s.scalars(select(StageProgressRow).where(StageProgressRow.active.is_(True))):
            if other.stage != rec.stage:
                other.active = False
    s.merge(StageProgressRow(stage=rec.stage, active=rec.active, first_ts=rec.first_ts, last_ts=rec.last_ts,
                             trades=rec.trades, losing_trades=rec.losing_trades, pnl=rec.pnl,
                             largest_loss=rec.largest_loss, peak_equity=rec.peak_equity,
                             max_drawdown_pct=rec.max_drawdown_pct))


def _stage(r: StageProgressRow) -> StageRecord:
    return StageRecord(r.stage, r.active, r.first_ts, r.last_ts, r.trades, r.losing_trades, r.pnl,
                       r.largest_loss, r.peak_equity, r.max_drawdown_pct)


def load_stages(s: Session) -> list[StageRecord]:
    return [_stage(r) for r in s.scalars(select(StageProgressRow).order_by(StageProgressRow.first_ts))]


def load_stage(s: Session, stage: str) -> StageRecord | None:
    row = s.get(StageProgressRow, stage)
    return None if row is None else _stage(row)


# -- operator requests -------------------------------------------------------------------------------
def add_request(s: Session, kind: str, target: str, scope: str, reason: str, actor: str, ts: int) -> None:
    s.add(OperatorRequest(kind=kind, target=target, scope=scope, reason=reason, actor=actor, ts=ts))


def pending_requests(s: Session) -> list[RequestRecord]:
    rows = s.scalars(select(OperatorRequest).where(OperatorRequest.handled_ts.is_(None))
                     .order_by(OperatorRequest.id))
    return [RequestRecord(r.id, r.kind, r.target, r.scope, r.reason, r.actor, r.ts) for r in rows]


def mark_handled(s: Session, request_id: int, ts: int, outcome: str) -> None:
    row = s.get(OperatorRequest, request_id)
    if row is not None:
        row.handled_ts = ts
        row.outcome = outcome
