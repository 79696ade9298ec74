"""The risk layer's mutable state, in one place, and its conversion to and from a :class:`RiskSnapshot`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from tradewarden.risk.breakers import Breaker
from tradewarden.risk.counters import RiskCounters
from tradewarden.risk.killswitch import KillSwitchStatus
from tradewarden.risk.snapshot import RiskSnapshot
from tradewarden.risk.stages import StageProgress
from tradewarden.risk.state import GLOBAL, TradingState

NONE = Decimal(-1)  # how "not set" is stored in a counter row


def _opt(value: Decimal | None) -> Decimal:
    return NONE if value is None else value


def _get(values: dict[tuple[str, str], Decimal], name: str, scope: str = GLOBAL) -> Decimal | None:
    v = values.get((name, scope))
    return None if v is None or v == NONE else v


@dataclass
class RiskBook:
    day: int | None = None                     # UTC day number (ms // 86_400_000) the figures below belong to
    day_start_equity: Decimal | None = None
    peak_equity: Decimal | None = None
    last_equity: Decimal | None = None
    trades_today: int = 0
    loss_streak: dict[str, int] = field(default_factory=dict)
    error_times: dict[str, list[int]] = field(default_factory=dict)  # not persisted: a short window
    unhealthy_since: int | None = None
    cooldowns: dict[str, int] = field(default_factory=dict)
    order_times: list[int] = field(default_factory=list)  # approved orders, for the rate limit
    breakers: dict[tuple[str, str], Breaker] = field(default_factory=dict)
    kill: KillSwitchStatus = field(default_factory=KillSwitchStatus)  # as the bot last acknowledged it
    stages: dict[str, StageProgress] = field(default_factory=dict)
    recorded_stage: str | None = None
    announced: dict[str, tuple[TradingState, str, int]] = field(default_factory=dict)
    counters: RiskCounters = field(default_factory=RiskCounters)

    def snapshot(self) -> RiskSnapshot:
        values: dict[tuple[str, str], Decimal] = {
            ("day", GLOBAL): _opt(None if self.day is None else Decimal(self.day)),
            ("day_start_equity", GLOBAL): _opt(self.day_start_equity),
            ("peak_equity", GLOBAL): _opt(self.peak_equity),
            ("last_equity", GLOBAL): _opt(self.last_equity),
            ("trades_today", GLOBAL): Decimal(self.trades_today),
            ("unhealthy_since", GLOBAL): _opt(None if self.unhealthy_since is None
                                              else Decimal(self.unhealthy_since)),
            ("kill_switch_ack", GLOBAL): Decimal(int(self.kill.active)),
            ("kill_switch_ack_ts", GLOBAL): Decimal(self.kill.ts),
            ("approved", GLOBAL): Decimal(self.counters.approved),
            ("kill_switch_activations", GLOBAL): Decimal(self.counters.kill_switch_activations),
        }
        values.update({("loss_streak", s): Decimal(n) for s, n in self.loss_streak.items()})
        values.update({("denials", c): Decimal(n) for c, n in self.counters.denials.items()})
        values.update({("breaker_trips", b): Decimal(n) for b, n in self.counters.breaker_trips.items()})
        return RiskSnapshot(values, list(self.breakers.values()), dict(self.cooldowns), dict(self.announced),
                            list(self.stages.values()), self.recorded_stage, self.kill)

    @classmethod
    def restore(cls, snap: RiskSnapshot) -> RiskBook:
        v = snap.counters
        day = _get(v, "day")
        since = _get(v, "unhealthy_since")
        ack_active = bool(_get(v, "kill_switch_ack") or 0)
        ack_ts = int(_get(v, "kill_switch_ack_ts") or 0)
        # The bot acknowledged ``ack``; if the switch changed while it was down, the next poll sees the
        # difference and announces it.
        kill = snap.kill_switch if (snap.kill_switch.active, snap.kill_switch.ts) == (ack_active, ack_ts) \
            else KillSwitchStatus(ack_active, "", "", ack_ts)
        counters = RiskCounters(
            approved=int(_get(v, "approved") or 0),
            denials=Counter({s: int(n) for (name, s), n in v.items() if name == "denials"}),
            breaker_trips=Counter({s: int(n) for (name, s), n in v.items() if name == "breaker_trips"}),
            kill_switch_activations=int(_get(v, "kill_switch_activations") or 0),
        )
        return cls(
            day=None if day is None else int(day),
            day_start_equity=_get(v, "day_start_equity"),
            peak_equity=_get(v, "peak_equity"),
            last_equity=_get(v, "last_equity"),
            trades_today=int(_get(v, "trades_today") or 0),
            loss_streak={s: int(n) for (name, s), n in v.items() if name == "loss_streak"},
            unhealthy_since=None if since is None else int(since),
            cooldowns=dict(snap.cooldowns),
            breakers={(b.name, b.scope): b for b in snap.breakers},
            kill=kill,
            stages={p.stage: p for p in snap.stages},
            recorded_stage=snap.active_stage,
            announced=dict(snap.states),
            counters=counters,
        )
