"""Counts the backtest summary and operators read: approvals, denials by reason code, breaker trips."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RiskCounters:
    approved: int = 0
    denials: Counter[str] = field(default_factory=Counter)
    breaker_trips: Counter[str] = field(default_factory=Counter)
    kill_switch_activations: int = 0

    @property
    def denied(self) -> int:
        return sum(self.denials.values())

    def as_dict(self) -> dict[str, Any]:
        return {"approved": self.approved, "denied": self.denied,
                "denials": dict(sorted(self.denials.items())),
                "breaker_trips": dict(sorted(self.breaker_trips.items())),
                "kill_switch_activations": self.kill_switch_activations}
