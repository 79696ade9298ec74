"""Reading and writing fleet instances: registration, lifecycle transitions, heartbeats, desired state, and the
activity feed; plus the harness results.

A transition is checked against the domain's table and recorded in ``instance_events`` in the same
transaction as the state change (so the feed misses none). ``expect`` makes a transition conditional on the
state it was read in: two writers racing (an instance and an agent) cannot both move it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from tradewarden.domain.instances import DesiredState, InstanceRole, InstanceState, check_transition
from tradewarden.persistence.database import Database
from tradewarden.persistence.fleet_models import ExchangeRow, HarnessResultRow, InstanceEventRow, InstanceRow
from tradewarden.persistence.fleet_repo import (
    HarnessOutcome,
    InstanceEventView,
    InstanceView,
    RegistryError,
    WarmupProgress,
    exchange_row,
    now_ms,
)


def _view(s: Session, r: InstanceRow) -> InstanceView:
    exchange = s.get(ExchangeRow, r.exchange_id)
    return InstanceView(
        r.id, r.exchange_id, exchange.slug if exchange else "?", r.user_exchange_id, InstanceRole(r.role),
        r.host, r.pid, InstanceState(r.state), DesiredState(r.desired_state), tuple(json.loads(r.symbols)),
        tuple(json.loads(r.timeframes)),
        WarmupProgress(r.progress_symbols_done, r.progress_symbols_total, r.progress_candles_done,
                       r.progress_candles_total),
        r.last_heartbeat_ms, r.last_error, r.started_ms, r.state_since_ms)


def _row(s: Session, instance_id: int) -> InstanceRow:
    row = s.get(InstanceRow, instance_id)
    if row is None:
        raise RegistryError(f"no instance with id {instance_id} (see `tradewarden instance list`)")
    return row


def register_instance(db: Database, exchange: str, role: InstanceRole, host: str, *,
                      symbols: Sequence[str] = (), timeframes: Sequence[str] = (),
                      user_exchange_id: int | None = None, desired: DesiredState = DesiredState.STOPPED,
                      actor: str = "") -> InstanceView:
    """The instance of ``role`` on ``exchange`` (and account) for ``host``: found, or created ``idle``.

    An existing one gets the given symbols and timeframes (when given); its state is left alone.
    """
    with db.session() as s:
        ex = exchange_row(s, exchange)
        row = s.scalars(select(InstanceRow).where(
            InstanceRow.exchange_id == ex.id, InstanceRow.role == role.value, InstanceRow.host == host,
            InstanceRow.user_exchange_id.is_(None) if user_exchange_id is None
            else InstanceRow.user_exchange_id == user_exchange_id)).first()
        now = now_ms(s)
        if row is None:
            row = InstanceRow(exchange_id=ex.id, user_exchange_id=user_exchange_id, role=role.value, host=host,
                              state=InstanceState.IDLE.value, desired_state=desired.value,
                              symbols=json.dumps(list(symbols)), timeframes=json.dumps(list(timeframes)),
                              progress_symbols_done=0, progress_symbols_total=0, progress_candles_done=0,
                              progress_candles_total=0, state_since_ms=now)
            s.add(row)
            s.flush()
            s.add(InstanceEventRow(instance_id=row.id, ts=now, kind="registered", from_state=None,
                                   to_state=InstanceState.IDLE.value, reason=f"{role.value} on {exchange}",
                                   actor=actor))
        else:
            if symbols:
                row.symbols = json.dumps(list(symbols))
            if timeframes:
                row.timeframes = json.dumps(list(timeframes))
        return _view(s, row)


def get_instance(db: Database, instance_id: int) -> InstanceView:
    with db.session() as s:
        return _view(s, _row(s, instance_id))


def list_instances(db: Database, *, host: str | None = None, exchange: str | None = None) -> list[InstanceView]:
    with db.session() as s:
        query = select(InstanceRow).order_by(InstanceRow.id)
        if host is not None:
            query = query.where(InstanceRow.host == host)
        if exchange is not None:
            query = query.where(InstanceRow.exchange_id == exchange_row(s, exchange).id)
        return [_view(s, r) for r in s.scalars(query)]


def transition(db: Database, instance_id: int, target: InstanceState, reason: str, *, actor: str = "",
               expect: InstanceState | None = None, pid: int | None = None,
               error: str | None = None) -> InstanceView:
    """Move the instance to ``target`` (checked against the table) and record it.

    ``expect``: only when the stored state is still this one (raises :class:`RegistryError` otherwise).
    ``pid`` is recorded on ``starting``; ``error`` is kept as ``last_error`` (and cleared on a new start).
    """
    with db.session() as s:
        row = s.get(InstanceRow, instance_id, with_for_update=True)
        if row is None:
            raise RegistryError(f"no instance with id {instance_id} (see `tradewarden instance list`)")
        current = InstanceState(row.state)
        if expect is not None and current is not expect:
            raise RegistryError(f"instance {instance_id} is {current}, not {expect}: someone else moved it")
        check_transition(current, target)
        now = now_ms(s)
        row.state = target.value
        row.state_since_ms = now
        if target is InstanceState.STARTING:
            row.started_ms = now
            row.pid = pid
            row.last_heartbeat_ms = now
            row.last_error = None
            row.progress_symbols_done = row.progress_candles_done = 0
        if target is InstanceState.ERROR:
            row.last_error = error or reason
        s.add(InstanceEventRow(instance_id=row.id, ts=now, kind="transition", from_state=current.value,
                               to_state=target.value, reason=reason, actor=actor))
        return _view(s, row)


def heartbeat(db: Database, instance_id: int, *, pid: int | None = None,
              progress: WarmupProgress | None = None) -> int:
    """Write the heartbeat (and warm-up progress); return the database time written. A heartbeat from a pid
    that is no longer the instance's (it was taken over) writes nothing and returns 0."""
    with db.session() as s:
        row = _row(s, instance_id)
        if pid is not None and row.pid is not None and row.pid != pid:
            return 0
        now = now_ms(s)
        row.last_heartbeat_ms = now
        if progress is not None:
            row.progress_symbols_done = progress.symbols_done
            row.progress_symbols_total = progress.symbols_total
            row.progress_candles_done = progress.candles_done
            row.progress_candles_total = progress.candles_total
        return now


def set_desired(db: Database, instance_id: int, desired: DesiredState, *, actor: str,
                reason: str = "") -> InstanceView:
    """What the operator wants (Connect: running, Stop: stopped); the host's agent acts on it."""
    with db.session() as s:
        row = _row(s, instance_id)
        now = now_ms(s)
        if row.desired_state != desired.value:
            row.desired_state = desired.value
            s.add(InstanceEventRow(instance_id=row.id, ts=now, kind="desired", from_state=None,
                                   to_state=desired.value, reason=reason or f"desired {desired.value}",
                                   actor=actor))
        return _view(s, row)


def note(db: Database, instance_id: int, reason: str, *, actor: str = "") -> None:
    """An entry in the activity feed that changes no state (a restart scheduled, a claim refused...)."""
    with db.session() as s:
        s.add(InstanceEventRow(instance_id=_row(s, instance_id).id, ts=now_ms(s), kind="note", from_state=None,
                               to_state=None, reason=reason, actor=actor))


def instance_events(db: Database, *, instance_id: int | None = None, after_id: int = 0,
                    limit: int = 100) -> list[InstanceEventView]:
    """The newest ``limit`` events (of one instance, or all) with id above ``after_id``, oldest first."""
    with db.session() as s:
        query = select(InstanceEventRow).where(InstanceEventRow.id > after_id)
        if instance_id is not None:
            query = query.where(InstanceEventRow.instance_id == instance_id)
        rows = list(s.scalars(query.order_by(InstanceEventRow.id.desc()).limit(limit)))
        return [InstanceEventView(r.id, r.instance_id, r.ts, r.kind, r.from_state, r.to_state, r.reason, r.actor)
                for r in reversed(rows)]


def record_harness(db: Database, exchange: str, run_id: str, outcomes: Sequence[HarnessOutcome]) -> int:
    """Store one harness run's outcomes; return the database time they were stored at."""
    with db.session() as s:
        ex = exchange_row(s, exchange)
        now = now_ms(s)
        for o in outcomes:
            s.add(HarnessResultRow(run_id=run_id, ts=now, exchange_id=ex.id, test=o.test, passed=o.passed,
                                   detail=o.detail, counts=json.dumps(o.counts, sort_keys=True)))
        return now


def harness_results(db: Database, *, exchange: str | None = None,
                    limit: int = 50) -> list[tuple[str, int, str, HarnessOutcome]]:
    """The newest harness outcomes as (exchange slug, ts, run id, outcome), newest first."""
    with db.session() as s:
        query = select(HarnessResultRow, ExchangeRow.slug).join(ExchangeRow,
                                                                 ExchangeRow.id == HarnessResultRow.exchange_id)
        if exchange is not None:
            query = query.where(ExchangeRow.slug == exchange)
        out: list[tuple[str, int, str, HarnessOutcome]] = []
        for r, slug in s.execute(query.order_by(HarnessResultRow.id.desc()).limit(limit)):
            out.append((slug, r.ts, r.run_id,
                        HarnessOutcome(r.test, r.passed, r.detail, {k: int(v) for k, v in
                                                                    json.loads(r.counts).items()})))
        return out
