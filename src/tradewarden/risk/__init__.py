"""The risk and safety layer: the one gate every order passes, whatever the mode.

It owns the trading state (``ACTIVE``/``REDUCING``/``HALTED``, for the whole bot and per symbol), the
pre-trade rules (sizing from risk per trade, loss limits, open positions, cool-downs, exchange filters,
fat-finger guard, rate limit, local balance check) as a pure functional core, the circuit breakers, the kill
switch, staged ramp-up and the hash-chained audit trail. :class:`RiskManager` wraps the pure parts with
events, audit records and, optionally, the database (:class:`RiskStateStore`, loaded lazily because it
imports SQLAlchemy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradewarden.risk.audit import AuditError, AuditHead, AuditTrail, AuditVerification, verify_audit
from tradewarden.risk.breakers import Breaker
from tradewarden.risk.config import (
    BreakerConfig,
    BreakersConfig,
    RiskConfig,
    RiskConfigError,
    StageConfig,
    load_risk_config,
    load_risk_config_file,
)
from tradewarden.risk.counters import RiskCounters
from tradewarden.risk.killswitch import KillSwitchPlan, KillSwitchStatus, plan_kill_switch
from tradewarden.risk.manager import RiskManager, RiskStore
from tradewarden.risk.rules import Denial, GateView, Verdict, evaluate
from tradewarden.risk.stages import StageProgress, criteria, ready_to_advance
from tradewarden.risk.state import GLOBAL, ReasonCode, TradingState

if TYPE_CHECKING:
    from tradewarden.risk.store import RiskStateStore

__all__ = [
    "GLOBAL",
    "AuditError",
    "AuditHead",
    "AuditTrail",
    "AuditVerification",
    "Breaker",
    "BreakerConfig",
    "BreakersConfig",
    "Denial",
    "GateView",
    "KillSwitchPlan",
    "KillSwitchStatus",
    "ReasonCode",
    "RiskConfig",
    "RiskConfigError",
    "RiskCounters",
    "RiskManager",
    "RiskStateStore",
    "RiskStore",
    "StageConfig",
    "StageProgress",
    "TradingState",
    "Verdict",
    "criteria",
    "evaluate",
    "load_risk_config",
    "load_risk_config_file",
    "plan_kill_switch",
    "ready_to_advance",
    "verify_audit",
]


def __getattr__(name: str) -> Any:
    # RiskStateStore pulls in SQLAlchemy; load it only when someone asks for it.
    if name == "RiskStateStore":
        from tradewarden.risk.store import RiskStateStore

        return RiskStateStore
    raise AttributeError(f"module 'tradewarden.risk' has no attribute {name!r}")
