"""Reading and writing the risk layer's rows. Every function works inside the caller's session (transaction).

The records are plain values so callers never hold ORM objects outside a session. The writes the bot makes on
every candle are ``INSERT ... ON CONFLICT DO UPDATE`` statements built once per dialect and run with many
parameter sets at once: the ORM's ``merge`` costs a SELECT and a flush per row, which made a save take several
milliseconds, on the path from a candle's close to its order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from tradewarden.persistence.models import (
    AuditHeadRow,
    Base,
    BreakerRow,
    CooldownRow,
    CounterRow,
    KillSwitchAck,
    KillSwitchEvent,
    OperatorActionRow,
    OperatorRequest,
    StageProgressRow,
    TradingStateRow,
)
from tradewarden.persistence.statements import dialect_insert, upsert


@dataclass(frozen=True)
class KillSwitchRecord:
    active: bool
    reason: str
    actor: str
    ts: int
    id: int = field(default=0, compare=False)  # the event's row id, which acknowledgements name


@dataclass(frozen=True)
class KillSwitchAckRecord:
    event_id: int
    bot: str
    ts: int


@dataclass(frozen=True)
class AuditHeadRecord:
    account: str
    path: str
    seq: int
    last_hash: str
    actions_seen: int
    updated_ts: int


@dataclass(frozen=True)
class OperatorActionRecord:
    id: int
    action: str
    actor: str
    detail: str  # JSON
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


# -- upserts, built once per dialect -------------------------------------------------------------------
@dataclass(frozen=True)
class _Upserts:
    breaker: Any
    counter: Any
    state: Any
    stage: Any


@cache
def _upserts(dialect: str) -> _Upserts:
    """Upsert statements for the rows keyed by name/scope/stage."""
    insert_ = dialect_insert(dialect)
    if insert_ is None:
        raise ValueError(f"the risk store supports SQLite and PostgreSQL, not {dialect}")

    def table(model: type[Base]) -> Table:
        return cast(Table, model.__table__)

    return _Upserts(*(upsert(insert_, table(m)) for m in (BreakerRow, CounterRow, TradingStateRow, StageProgressRow)))


def _sql(s: Session) -> _Upserts:
    return _upserts(s.get_bind().dialect.name)


# -- kill switch -------------------------------------------------------------------------------------
def record_kill_switch(s: Session, active: bool, reason: str, actor: str, ts: int) -> KillSwitchRecord:
    row = KillSwitchEvent(active=active, reason=reason, actor=actor, ts=ts)
    s.add(row)
    s.flush()  # the id, which a bot's acknowledgement names
    return _ks(row)


def _ks(row: KillSwitchEvent) -> KillSwitchRecord:
    return KillSwitchRecord(row.active, row.reason, row.actor, row.ts, row.id)


def add_kill_switch_ack(s: Session, event_id: int, bot: str, ts: int) -> None:
    s.add(KillSwitchAck(event_id=event_id, bot=bot, ts=ts))


def kill_switch_acks(s: Session, event_id: int) -> list[KillSwitchAckRecord]:
    rows = s.scalars(select(KillSwitchAck).where(KillSwitchAck.event_id == event_id).order_by(KillSwitchAck.id))
    return [KillSwitchAckRecord(r.event_id, r.bot, r.ts) for r in rows]


def latest_kill_switch(s: Session) -> KillSwitchRecord | None:
    row = s.scalars(select(KillSwitchEvent).order_by(KillSwitchEvent.id.desc()).limit(1)).first()
    return None if row is None else _ks(row)


def kill_switch_history(s: Session, limit: int = 20) -> list[KillSwitchRecord]:
    """Newest first."""
    rows = s.scalars(select(KillSwitchEvent).order_by(KillSwitchEvent.id.desc()).limit(limit))
    return [_ks(r) for r in rows]


# -- breakers ----------------------------------------------------------------------------------------
def save_breaker(s: Session, b: BreakerRecord, ts: int) -> None:
    save_breakers(s, [b], ts)


def save_breakers(s: Session, breakers: Iterable[BreakerRecord], ts: int) -> None:
    """Upsert each breaker (every field, and ``updated_ts = ts``)."""
    rows = [{"name": b.name, "scope": b.scope, "tripped": b.tripped, "action": b.action, "reason": b.reason,
             "tripped_ts": b.tripped_ts, "reset_after_ts": b.reset_after_ts, "updated_ts": ts} for b in breakers]
    if rows:
        s.execute(_sql(s).breaker, rows)


def load_breakers(s: Session) -> list[BreakerRecord]:
    return [BreakerRecord(r.name, r.scope, r.tripped, r.action, r.reason, r.tripped_ts, r.reset_after_ts)
            for r in s.scalars(select(BreakerRow).order_by(BreakerRow.name, BreakerRow.scope))]


# -- counters ----------------------------------------------------------------------------------------
def save_counters(s: Session, values: dict[tuple[str, str], Decimal], ts: int) -> None:
    """Upsert each ``(name, scope) -> value``; counters not named are left as they are."""
    rows = [{"name": name, "scope": scope, "value": value, "updated_ts": ts} for (name, scope), value in values.items()]
    if rows:
        s.execute(_sql(s).counter, rows)


def load_counters(s: Session) -> dict[tuple[str, str], Decimal]:
    return {(r.name, r.scope): r.value for r in s.scalars(select(CounterRow))}


def delete_counters(s: Session, name: str) -> None:
    s.execute(delete(CounterRow).where(CounterRow.name == name))


# -- cool-downs --------------------------------------------------------------------------------------
def save_cooldowns(s: Session, until: dict[str, int], reason: str = "losing trade") -> None:
    """Replace all cool-downs with ``until`` (scope -> end ms)."""
    s.execute(delete(CooldownRow))
    if until:
        s.execute(cast(Table, CooldownRow.__table__).insert(),
                  [{"scope": scope, "until_ts": ts, "reason": reason} for scope, ts in until.items()])


def load_cooldowns(s: Session) -> dict[str, int]:
    return {r.scope: r.until_ts for r in s.scalars(select(CooldownRow))}


# -- trading states ----------------------------------------------------------------------------------
def save_state(s: Session, rec: StateRecord) -> None:
    save_states(s, [rec])


def save_states(s: Session, records: Iterable[StateRecord]) -> None:
    rows = [{"scope": r.scope, "state": r.state, "reason": r.reason, "changed_ts": r.changed_ts} for r in records]
    if rows:
        s.execute(_sql(s).state, rows)


def load_states(s: Session) -> list[StateRecord]:
    return [StateRecord(r.scope, r.state, r.reason, r.changed_ts)
            for r in s.scalars(select(TradingStateRow).order_by(TradingStateRow.scope))]


# -- stages ------------------------------------------------------------------------------------------
def save_stage(s: Session, rec: StageRecord) -> None:
    if rec.active:  # only one stage is the active one
        s.execute(update(StageProgressRow)
                  .where(StageProgressRow.active.is_(True), StageProgressRow.stage != rec.stage)
                  .values(active=False))
    s.execute(_sql(s).stage, {
        "stage": rec.stage, "active": rec.active, "first_ts": rec.first_ts, "last_ts": rec.last_ts,
        "trades": rec.trades, "losing_trades": rec.losing_trades, "pnl": rec.pnl, "largest_loss": rec.largest_loss,
        "peak_equity": rec.peak_equity, "max_drawdown_pct": rec.max_drawdown_pct})


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


# -- operator actions and audit heads ----------------------------------------------------------------
def add_operator_action(s: Session, action: str, actor: str, detail: str, ts: int) -> None:
    s.add(OperatorActionRow(action=action, actor=actor, detail=detail, ts=ts))


def operator_actions(s: Session, after_id: int) -> list[OperatorActionRecord]:
    """Actions with an id above ``after_id``, oldest first."""
    rows = s.scalars(select(OperatorActionRow).where(OperatorActionRow.id > after_id).order_by(OperatorActionRow.id))
    return [OperatorActionRecord(r.id, r.action, r.actor, r.detail, r.ts) for r in rows]


def _head(r: AuditHeadRow) -> AuditHeadRecord:
    return AuditHeadRecord(r.account, r.path, r.seq, r.last_hash, r.actions_seen, r.updated_ts)


def audit_head(s: Session, account: str) -> AuditHeadRecord | None:
    row = s.get(AuditHeadRow, account)
    return None if row is None else _head(row)


def audit_heads(s: Session) -> list[AuditHeadRecord]:
    return [_head(r) for r in s.scalars(select(AuditHeadRow).order_by(AuditHeadRow.account))]


def save_audit_head(s: Session, rec: AuditHeadRecord) -> None:
    row = s.get(AuditHeadRow, rec.account)
    if row is None:
        s.add(AuditHeadRow(account=rec.account, path=rec.path, seq=rec.seq, last_hash=rec.last_hash,
                           actions_seen=rec.actions_seen, updated_ts=rec.updated_ts))
        return
    row.path, row.seq, row.last_hash = rec.path, rec.seq, rec.last_hash
    row.actions_seen, row.updated_ts = rec.actions_seen, rec.updated_ts
