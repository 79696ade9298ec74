"""The risk settings (the ``risk`` section of the configuration): every rule, breaker and stage, each with a
default that leaves a plain backtest usable.

They are part of :class:`tradewarden.config.AppConfig`, so a bad risk setting is reported with every other
problem of the configuration, before anything starts; :mod:`tradewarden.risk` applies them. Percentages are
written as percent (``1`` is 1%, ``0.1`` is 0.1%). A rule set to ``null``/absent is off.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

Pct = Annotated[Decimal, Field(gt=0, le=100)]
Action = Literal["HALTED", "REDUCING"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BreakerConfig(_Strict):
    """What a breaker does when it trips, and how it resets."""

    action: Action = "HALTED"
    reset: Literal["manual", "timed"] = "manual"
    reset_after_minutes: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _timed_needs_delay(self) -> BreakerConfig:
        if self.reset == "timed" and self.reset_after_minutes is None:
            raise ValueError("reset 'timed' needs reset_after_minutes")
        return self


class DrawdownBreaker(BreakerConfig):
    """Trips when equity (open positions marked to market) falls this far below its peak."""

    max_drawdown_pct: Pct | None = None


class ConsecutiveLossesBreaker(BreakerConfig):
    """Trips after this many losing trades in a row (globally, or per symbol)."""

    max_losses: Annotated[int, Field(gt=0)] | None = None
    per_symbol: bool = False


class ErrorRateBreaker(BreakerConfig):
    """Trips after ``max_errors`` rejected or failed orders within ``window_minutes``."""

    max_errors: Annotated[int, Field(gt=0)] | None = None
    window_minutes: Annotated[int, Field(gt=0)] = 5
    per_symbol: bool = False


class StaleDataBreaker(_Strict):
    """Trips when the market data feed has been unhealthy for ``grace_seconds``."""

    enabled: bool = True
    grace_seconds: Annotated[int, Field(ge=0)] = 0
    action: Action = "HALTED"
    reset: Literal["recovery", "manual", "timed"] = "recovery"
    reset_after_minutes: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _timed_needs_delay(self) -> StaleDataBreaker:
        if self.reset == "timed" and self.reset_after_minutes is None:
            raise ValueError("reset 'timed' needs reset_after_minutes")
        return self


class DailyLossConfig(_Strict):
    """What happens when the day's loss limit (``max_daily_loss_pct``) is reached."""

    action: Action = "HALTED"
    reset: Literal["next_day", "manual"] = "next_day"


class BreakersConfig(_Strict):
    drawdown: DrawdownBreaker = DrawdownBreaker()
    consecutive_losses: ConsecutiveLossesBreaker = ConsecutiveLossesBreaker()
    error_rate: ErrorRateBreaker = ErrorRateBreaker()
    stale_data: StaleDataBreaker = StaleDataBreaker()
    daily_loss: DailyLossConfig = DailyLossConfig()


#: the settings a stage may override (None in the stage = keep the base value)
STAGE_OVERRIDES = ("risk_per_trade_pct", "max_daily_loss_pct", "max_trades_per_day", "max_position_notional",
                   "max_open_positions", "max_loss_per_trade_pct")


class StageConfig(_Strict):
    """A ramp-up stage: tighter limits while the bot proves itself, and the criteria to leave it."""

    description: str = ""
    risk_per_trade_pct: Pct | None = None
    max_daily_loss_pct: Pct | None = None
    max_trades_per_day: Annotated[int, Field(gt=0)] | None = None
    max_position_notional: Annotated[Decimal, Field(gt=0)] | None = None
    max_open_positions: Annotated[int, Field(gt=0)] | None = None
    max_loss_per_trade_pct: Pct | None = None
    advance_after_days: Annotated[int, Field(ge=0)] | None = None
    advance_after_trades: Annotated[int, Field(ge=0)] | None = None
    advance_max_drawdown_pct: Pct | None = None
    next_stage: str | None = None


class RiskConfig(_Strict):
    """All risk settings. ``effective()`` applies the active stage's overrides."""

    # sizing and per-order limits
    risk_per_trade_pct: Pct | None = None
    max_position_notional: Annotated[Decimal, Field(gt=0)] | None = None
    max_loss_per_trade_pct: Pct | None = None
    require_stop_loss: bool = False
    # daily and portfolio limits
    max_daily_loss_pct: Pct | None = None
    max_open_positions: Annotated[int, Field(gt=0)] | None = None
    max_trades_per_day: Annotated[int, Field(gt=0)] | None = None
    cooldown_after_loss_minutes: Annotated[int, Field(ge=0)] | None = None
    # a portfolio: Σ |marked position| over every symbol, and one symbol's position, as a share of equity
    max_total_exposure_pct: Annotated[Decimal, Field(gt=0, le=1000)] | None = None
    max_symbol_exposure_pct: Annotated[Decimal, Field(gt=0, le=1000)] | None = None
    cooldown_after_trade_minutes: Annotated[int, Field(ge=0)] | None = None  # per symbol, after any closed trade
    global_cooldown_after_loss_minutes: Annotated[int, Field(ge=0)] | None = None
    # order hygiene
    max_price_deviation_pct: Pct | None = Decimal(10)
    max_orders_per_second: Annotated[int, Field(gt=0)] | None = 10
    max_orders_per_minute: Annotated[int, Field(gt=0)] | None = 120
    check_balance: bool = True
    balance_buffer_pct: Annotated[Decimal, Field(ge=0, le=100)] = Decimal(0)
    allow_short: bool = True
    # safety switches
    kill_switch_close_positions: bool = False
    breakers: BreakersConfig = BreakersConfig()
    stages: dict[str, StageConfig] = Field(default_factory=dict)
    active_stage: str | None = None

    # field validators, not one model validator: they run even when other settings are invalid, so a file's
    # every problem is listed at once (a model validator runs only once all fields are valid)
    @field_validator("stages")
    @classmethod
    def _next_stages_defined(cls, stages: dict[str, StageConfig]) -> dict[str, StageConfig]:
        unknown = [f"{name}.next_stage {stage.next_stage!r}" for name, stage in stages.items()
                   if stage.next_stage is not None and stage.next_stage not in stages]
        if unknown:
            verb = "is not a defined stage" if len(unknown) == 1 else "are not defined stages"
            raise ValueError(f"{', '.join(unknown)} {verb}")
        return stages

    @field_validator("active_stage")
    @classmethod
    def _active_stage_defined(cls, value: str | None, info: ValidationInfo) -> str | None:
        stages = info.data.get("stages")
        if value is not None and stages is not None and value not in stages:
            known = ", ".join(sorted(stages)) or "none defined"
            raise ValueError(f"not one of the stages ({known})")
        return value

    @property
    def stage(self) -> StageConfig | None:
        return None if self.active_stage is None else self.stages[self.active_stage]

    def effective(self) -> RiskConfig:
        """This config with the active stage's overrides applied (the values the gate uses)."""
        stage = self.stage
        if stage is None:
            return self
        changes = {k: getattr(stage, k) for k in STAGE_OVERRIDES if getattr(stage, k) is not None}
        return self.model_copy(update=changes)
