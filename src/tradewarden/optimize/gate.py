"""The re-optimization gate: apply new parameters only when they beat the current ones out of sample.

Both parameter sets are scored on the same holdout (the bars the search never saw), by Sharpe. The
decision (pure, :func:`gate_decision`):

* ``new < current``: **keep**, out-of-sample performance would degrade;
* ``new - current < margin * |current|`` (or ``new == current``): **keep**, the improvement is within the
  margin (default 10%); with ``current == 0`` any strictly better value passes;
* otherwise **apply**. "At least the margin" includes the margin itself (compared with a 1e-9 relative
  tolerance so that 1.0 -> 1.1 at 10% counts despite binary floating point).

:func:`record_decision` appends the decision with its numbers to ``gate.jsonl``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradewarden.private_files import open_private

DEFAULT_MARGIN = 0.10
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class GateDecision:
    apply: bool
    current_oos_sharpe: float
    new_oos_sharpe: float
    margin: float
    required: float  # the smallest new out-of-sample Sharpe that would be applied
    reason: str


def gate_decision(
    current_oos_sharpe: float, new_oos_sharpe: float, margin: float = DEFAULT_MARGIN
) -> GateDecision:
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    current, new = float(current_oos_sharpe), float(new_oos_sharpe)
    required = current + margin * abs(current)
    slack = _TOLERANCE * max(1.0, abs(required))
    if new < current:
        return GateDecision(
            False,
            current,
            new,
            margin,
            required,
            f"keep current: out-of-sample Sharpe would degrade ({current:.4f} -> {new:.4f})",
        )
    if new <= current or new < required - slack:
        return GateDecision(
            False,
            current,
            new,
            margin,
            required,
            f"keep current: out-of-sample Sharpe {new:.4f} does not beat {current:.4f} by "
            f"{margin:.0%} (needs {required:.4f})",
        )
    return GateDecision(
        True,
        current,
        new,
        margin,
        required,
        f"apply: out-of-sample Sharpe {new:.4f} beats {current:.4f} by at least {margin:.0%} "
        f"(needed {required:.4f})",
    )


def record_decision(path: Path, decision: GateDecision, context: dict[str, Any]) -> dict[str, Any]:
    """Append the decision, its numbers and ``context`` (parameters, files, study) as one JSON line."""
    record = {
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "decision": "apply" if decision.apply else "keep",
        **asdict(decision),
        **context,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_private(path, text=True) as fh:  # its context names the study's files: 0600 like the others
        fh.write(json.dumps(record, sort_keys=True, default=str) + "\n")
    return record
