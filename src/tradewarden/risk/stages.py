"""Staged ramp-up: what a stage has achieved and whether that meets its criteria for advancing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradewarden.risk.breakers import DAY_MS, loss_pct
from tradewarden.risk.config import StageConfig


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


def criteria(cfg: StageConfig, progress: StageProgress | None) -> list[Criterion]:
    """Each advancement criterion the stage defines, judged on ``progress`` (None: nothing recorded)."""
    out: list[Criterion] = []
    days = progress.days if progress else 0
    trades = progress.trades if progress else 0
    if cfg.advance_after_days is not None:
        out.append(Criterion("days live", f">= {cfg.advance_after_days}", str(days),
                             progress is not None and days >= cfg.advance_after_days))
    if cfg.advance_after_trades is not None:
        out.append(Criterion("trades", f">= {cfg.advance_after_trades}", str(trades),
                             progress is not None and trades >= cfg.advance_after_trades))
    if cfg.advance_max_drawdown_pct is not None:
        dd = progress.max_drawdown_pct.quantize(Decimal("0.01")) if progress else None
        out.append(Criterion("max drawdown", f"< {cfg.advance_max_drawdown_pct}%",
                             "-" if dd is None else f"{dd}%",
                             dd is not None and dd < cfg.advance_max_drawdown_pct))
    return out


def ready_to_advance(cfg: StageConfig, progress: StageProgress | None) -> bool:
    judged = criteria(cfg, progress)
    return cfg.next_stage is not None and progress is not None and all(c.met for c in judged)
