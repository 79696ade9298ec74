"""Staged ramp-up: what a stage has achieved and whether that meets its criteria for advancing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradewarden.risk.breakers import DAY_MS, loss_pct
from tradewarden.risk.config import StageConfig
from tradewarden.risk.criteria import Decision, Number, Threshold, Verdict, evaluate


@dataclass
class StageProgress:
    """Results recorded while a stage was active (live days, trades, drawdown)."""

    stage: str
    first_ts: int
    last_ts: int
    trades: int = 0
    losing_trades: int = 0
    pnl: Decimal = Decimal(0)
    largest_loss: Decimal = Decimal(0)
    peak_equity: Decimal = Decimal(0)
    max_drawdown_pct: Decimal = Decimal(0)

    @property
    def days(self) -> int:
        """Whole days between the stage's first and latest mark."""
        return (self.last_ts - self.first_ts) // DAY_MS

    def mark(self, ts: int, equity: Decimal) -> None:
        self.last_ts = max(self.last_ts, ts)
        self.peak_equity = max(self.peak_equity, equity)
        self.max_drawdown_pct = max(self.max_drawdown_pct, loss_pct(self.peak_equity, equity))

    def trade(self, ts: int, pnl: Decimal) -> None:
        self.last_ts = max(self.last_ts, ts)
        self.trades += 1
        self.pnl += pnl
        if pnl < 0:
            self.losing_trades += 1
            self.largest_loss = max(self.largest_loss, -pnl)


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    required: str
    actual: str
    met: bool


def stage_verdict(cfg: StageConfig, progress: StageProgress | None) -> Verdict:
    """The stage's criteria for advancing judged by the same rule as a report period
    (:func:`tradewarden.risk.criteria.evaluate`). Days, trades and drawdown are performance criteria, as in a
    period (CONTINUE while one is not met); nothing recorded: nothing measured."""
    thresholds: list[Threshold] = []
    facts: dict[str, Number | None] = {}
    if cfg.advance_after_days is not None:
        thresholds.append(Threshold("days live", ">=", cfg.advance_after_days, safety=False))
        facts["days live"] = progress.days if progress else None
    if cfg.advance_after_trades is not None:
        thresholds.append(Threshold("trades", ">=", cfg.advance_after_trades, safety=False))
        facts["trades"] = progress.trades if progress else None
    if cfg.advance_max_drawdown_pct is not None:
        thresholds.append(Threshold("max drawdown", "<", cfg.advance_max_drawdown_pct, safety=False, unit="%"))
        facts["max drawdown"] = progress.max_drawdown_pct.quantize(Decimal("0.01")) if progress else None
    return evaluate(thresholds, facts)


def criteria(cfg: StageConfig, progress: StageProgress | None) -> list[Criterion]:
    """Each advancement criterion the stage defines, judged on ``progress`` (None: nothing recorded)."""
    return [Criterion(j.threshold.name, j.required, "-" if j.actual is None else j.shown, j.met is True)
            for j in stage_verdict(cfg, progress).judged]


def ready_to_advance(cfg: StageConfig, progress: StageProgress | None) -> bool:
    """A GO on the stage's criteria (and a next stage to advance to)."""
    return cfg.next_stage is not None and progress is not None and \
        stage_verdict(cfg, progress).decision is Decision.GO
