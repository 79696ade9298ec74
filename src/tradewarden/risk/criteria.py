"""Success criteria and the go/no-go decision: measured facts in, a verdict out, nothing else (pure).

Used by ``tradewarden report period`` (a paper or live period judged against the operators' requirements) and
by ``tradewarden stage show`` (a ramp-up stage judged against its criteria for advancing), so both decide by
the same rule:

* **NO-GO** when a *safety* criterion fails (uptime, reconnects, memory, position limit, audit trail, kill
  switch): the bot must not be trusted with more, whatever it earned;
* **GO** when every criterion passes;
* **CONTINUE** otherwise: a *performance* criterion failed, or something was not measured (a criterion
  without a measurement is never taken as passed).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

Op = Literal[">=", ">", "<=", "<", "=="]
Number = Decimal | int | float


class Decision(StrEnum):
    GO = "GO"
    CONTINUE = "CONTINUE"
    NO_GO = "NO-GO"


@dataclass(frozen=True, slots=True)
class Threshold:
    """One criterion: ``actual <op> limit``; ``safety`` says whether failing it is a NO-GO."""

    name: str
    op: Op
    limit: Number
    safety: bool
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Judged:
    threshold: Threshold
    actual: Number | None   # None: not measured
    met: bool | None        # None: not measured, so neither passed nor failed

    @property
    def required(self) -> str:
        return f"{self.threshold.op} {self.threshold.limit}{self.threshold.unit}"

    @property
    def shown(self) -> str:
        return "not recorded" if self.actual is None else f"{self.actual}{self.threshold.unit}"


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    judged: tuple[Judged, ...]
    deciding: tuple[Judged, ...]   # the criteria that decided it (every criterion for a GO)


def _holds(actual: Number, op: Op, limit: Number) -> bool:
    a, b = Decimal(str(actual)), Decimal(str(limit))   # exact: 0.1 + 0.2 style float noise never decides
    return {">=": a >= b, ">": a > b, "<=": a <= b, "<": a < b, "==": a == b}[op]


def judge(threshold: Threshold, actual: Number | None) -> Judged:
    return Judged(threshold, actual, None if actual is None else _holds(actual, threshold.op, threshold.limit))


def evaluate(thresholds: list[Threshold], facts: dict[str, Number | None]) -> Verdict:
    """The verdict on ``facts`` (criterion name -> measured value, absent or None when not measured)."""
    judged = tuple(judge(t, facts.get(t.name)) for t in thresholds)
    failed_safety = tuple(j for j in judged if j.threshold.safety and j.met is False)
    if failed_safety:
        return Verdict(Decision.NO_GO, judged, failed_safety)
    open_ = tuple(j for j in judged if j.met is not True)
    if open_:
        return Verdict(Decision.CONTINUE, judged, open_)
    return Verdict(Decision.GO, judged, judged)
