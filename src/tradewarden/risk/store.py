"""The risk layer's state in the database (through :mod:`tradewarden.persistence`).

This module imports SQLAlchemy; :mod:`tradewarden.risk` loads it only when a store is asked for, so a plain
backtest never pays for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradewarden.persistence import Database
from tradewarden.persistence import risk_repo as repo
from tradewarden.risk.account_audit import OperatorAction, StoredHead
from tradewarden.risk.audit import AuditHead
from tradewarden.risk.breakers import Breaker
from tradewarden.risk.killswitch import KillSwitchStatus
from tradewarden.risk.snapshot import OperatorCommand, RiskSnapshot
from tradewarden.risk.stages import StageProgress
from tradewarden.risk.state import TradingState


def _stage(r: repo.StageRecord) -> StageProgress:
    return StageProgress(r.stage, r.first_ts, r.last_ts, r.trades, r.losing_trades, r.pnl, r.largest_loss,
                         r.peak_equity, r.max_drawdown_pct)


def _ks(r: repo.KillSwitchRecord | None) -> KillSwitchStatus:
    return KillSwitchStatus() if r is None else KillSwitchStatus(r.active, r.reason, r.actor, r.ts, r.id)


@dataclass(frozen=True)
class KillSwitchAck:
    """A running bot applied kill switch event ``event_id`` at ``ts``."""

    event_id: int
    bot: str
    ts: int


def _head(r: repo.AuditHeadRecord) -> StoredHead:
    return StoredHead(r.account, r.path, AuditHead(r.seq, r.last_hash), r.actions_seen, r.updated_ts)


class RiskStateStore:
    """Kill switch (with history), breakers, counters, cool-downs, trading states and stage progress."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def open(cls, url: str | None, data_dir: Path) -> RiskStateStore:
        return cls(Database.open(url, data_dir))

    def close(self) -> None:
        self.db.close()

    # -- kill switch ---------------------------------------------------------------------------------
    def kill_switch(self) -> KillSwitchStatus:
        with self.db.session() as s:
            return _ks(repo.latest_kill_switch(s))

    def set_kill_switch(self, active: bool, reason: str, actor: str, ts: int) -> KillSwitchStatus:
        """Record the change and, in the same transaction, the operator action every bot's audit trail copies."""
        with self.db.session() as s:
            record = repo.record_kill_switch(s, active, reason, actor, ts)
            repo.add_operator_action(s, "kill_switch_on" if active else "kill_switch_off", actor,
                                     _json({"reason": reason, "event_id": record.id}), ts)
            return _ks(record)

    def acknowledge_kill_switch(self, event_id: int, bot: str, ts: int) -> None:
        with self.db.session() as s:
            repo.add_kill_switch_ack(s, event_id, bot, ts)

    def kill_switch_acks(self, event_id: int) -> list[KillSwitchAck]:
        with self.db.session() as s:
            return [KillSwitchAck(a.event_id, a.bot, a.ts) for a in repo.kill_switch_acks(s, event_id)]

    def kill_switch_history(self, limit: int = 20) -> list[KillSwitchStatus]:
        with self.db.session() as s:
            return [_ks(r) for r in repo.kill_switch_history(s, limit)]

    # -- operator requests ---------------------------------------------------------------------------
    def request_breaker_reset(self, breaker: str, scope: str, reason: str, actor: str, ts: int) -> None:
        with self.db.session() as s:
            repo.add_request(s, "reset_breaker", breaker, scope, reason, actor, ts)
            repo.add_operator_action(s, "reset_breaker", actor,
                                     _json({"breaker": breaker, "scope": scope, "reason": reason}), ts)

    # -- operator actions and audit heads --------------------------------------------------------------
    def record_operator_action(self, action: str, actor: str, ts: int, **detail: Any) -> None:
        """An operator action that every running bot copies into its audit trail (e.g. a parameter apply)."""
        with self.db.session() as s:
            repo.add_operator_action(s, action, actor, _json(detail), ts)

    def operator_actions(self, after_id: int = 0) -> list[OperatorAction]:
        with self.db.session() as s:
            return [OperatorAction(a.id, a.action, a.actor, json.loads(a.detail), a.ts)
                    for a in repo.operator_actions(s, after_id)]

    def audit_head(self, account: str) -> StoredHead | None:
        with self.db.session() as s:
            r = repo.audit_head(s, account)
            return None if r is None else _head(r)

    def audit_heads(self) -> list[StoredHead]:
        with self.db.session() as s:
            return [_head(r) for r in repo.audit_heads(s)]

    def save_audit_head(self, head: StoredHead) -> None:
        with self.db.session() as s:
            repo.save_audit_head(s, repo.AuditHeadRecord(head.account, head.path, head.head.seq,
                                                         head.head.last_hash, head.actions_seen, head.updated_ts))

    def pending_commands(self) -> list[OperatorCommand]:
        with self.db.session() as s:
            return [OperatorCommand(r.id, r.kind, r.target, r.scope, r.reason, r.actor, r.ts)
                    for r in repo.pending_requests(s)]

    def command_done(self, command_id: int, ts: int, outcome: str) -> None:
        with self.db.session() as s:
            repo.mark_handled(s, command_id, ts, outcome)

    # -- everything else -----------------------------------------------------------------------------
    def load(self) -> RiskSnapshot:
        with self.db.session() as s:
            stages = repo.load_stages(s)
            return RiskSnapshot(
                counters=repo.load_counters(s),
                breakers=[Breaker(b.name, b.scope, b.tripped, TradingState(b.action), b.reason, b.tripped_ts,
                                  b.reset_after_ts) for b in repo.load_breakers(s)],
                cooldowns=repo.load_cooldowns(s),
                states={r.scope: (TradingState(r.state), r.reason, r.changed_ts)
                        for r in repo.load_states(s)},
                stages=[_stage(r) for r in stages],
                active_stage=next((r.stage for r in stages if r.active), None),
                kill_switch=_ks(repo.latest_kill_switch(s)),
            )

    def save(self, snap: RiskSnapshot, ts: int) -> None:
        """Write everything but the kill switch (only its own methods change it), in one transaction."""
        with self.db.session() as s:
            repo.save_counters(s, snap.counters, ts)
            repo.save_breakers(s, [repo.BreakerRecord(b.name, b.scope, b.tripped, b.action.value, b.reason,
                                                      b.tripped_ts, b.reset_after_ts) for b in snap.breakers], ts)
            repo.save_cooldowns(s, snap.cooldowns)
            repo.save_states(s, [repo.StateRecord(scope, state.value, reason, changed)
                                 for scope, (state, reason, changed) in snap.states.items()])
            for p in snap.stages:
                active = p.stage == snap.active_stage
                repo.save_stage(s, repo.StageRecord(p.stage, active, p.first_ts, p.last_ts, p.trades,
                                                    p.losing_trades, p.pnl, p.largest_loss, p.peak_equity,
                                                    p.max_drawdown_pct))


def _json(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, default=str)
