"""The risk layer's state in the database (through :mod:`tradewarden.persistence`).

This module imports SQLAlchemy; :mod:`tradewarden.risk` loads it only when a store is asked for, so a plain
backtest never pays for it.
"""

from __future__ import annotations

from pathlib import Path

from tradewarden.persistence import Database
from tradewarden.persistence import risk_repo as repo
from tradewarden.risk.breakers import Breaker
from tradewarden.risk.killswitch import KillSwitchStatus
from tradewarden.risk.snapshot import OperatorCommand, RiskSnapshot
from tradewarden.risk.stages import StageProgress
from tradewarden.risk.state import TradingState


def _stage(r: repo.StageRecord) -> StageProgress:
    return StageProgress(r.stage, r.first_ts, r.last_ts, r.trades, r.losing_trades, r.pnl, r.largest_loss,
                         r.peak_equity, r.max_drawdown_pct)


def _ks(r: repo.KillSwitchRecord | None) -> KillSwitchStatus:
    return KillSwitchStatus() if r is None else KillSwitchStatus(r.active, r.reason, r.actor, r.ts)


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
        with self.db.session() as s:
            return _ks(repo.record_kill_switch(s, active, reason, actor, ts))

    def kill_switch_history(self, limit: int = 20) -> list[KillSwitchStatus]:
        with self.db.session() as s:
            return [_ks(r) for r in repo.kill_switch_history(s, limit)]

    # -- operator requests ---------------------------------------------------------------------------
    def request_breaker_reset(self, breaker: str, scope: str, reason: str, actor: str, ts: int) -> None:
        with self.db.session() as s:
            repo.add_request(s, "reset_breaker", breaker, scope, reason, actor, ts)

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
