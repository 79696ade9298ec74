"""The risk layer's persistent state as plain values: what the store saves and a restarted bot restores."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tradewarden.risk.breakers import Breaker
from tradewarden.risk.killswitch import KillSwitchStatus
from tradewarden.risk.stages import StageProgress
from tradewarden.risk.state import TradingState


@dataclass(frozen=True)
class OperatorCommand:
    """A request an operator queued for the running bot (from the CLI)."""

    id: int
    kind: str     # "reset_breaker"
    target: str   # breaker name
    scope: str
    reason: str
    actor: str
    ts: int


@dataclass
class RiskSnapshot:
    counters: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    breakers: list[Breaker] = field(default_factory=list)
    cooldowns: dict[str, int] = field(default_factory=dict)
    states: dict[str, tuple[TradingState, str, int]] = field(default_factory=dict)  # state, why, when
    stages: list[StageProgress] = field(default_factory=list)
    active_stage: str | None = None
    kill_switch: KillSwitchStatus = field(default_factory=KillSwitchStatus)
