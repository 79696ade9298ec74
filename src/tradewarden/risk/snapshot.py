"""The risk layer's persistent state as plain values: what the store saves and a restarted bot restores."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tradewarden.risk.breakers import Breaker
from tradewarden.risk.killswitch import KillSwitchStatus
from tradewarden.risk.stages import StageProgress
from tradewarden.risk.state import TradingState

#: operator requests the risk book carries out in its poll: a breaker reset, and pausing entries (the ``paused``
#: breaker: REDUCING, so exits still pass) and resuming them, for ``global`` or one symbol
RISK_COMMANDS = frozenset({"reset_breaker", "pause_entries", "resume"})
#: operator requests the trading node carries out on its worker (they need an engine; ``flatten``, the emergency
#: stop's, cancels every open order of a symbol and closes its position): its command poll takes them
#: (:mod:`tradewarden.node.commands`); the risk book's poll leaves them pending
NODE_COMMANDS = frozenset({"close_position", "reload_params", "flatten"})
PAUSED = "paused"  # the breaker pause_entries trips


@dataclass(frozen=True)
class OperatorCommand:
    """A request an operator queued for the running bot (from the CLI)."""

    id: int
    kind: str     # one of RISK_COMMANDS or NODE_COMMANDS
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
