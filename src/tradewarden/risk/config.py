"""Risk configuration: every rule, breaker and stage, each with a default that leaves a plain backtest usable.

Percentages are written as percent (``1`` is 1%, ``0.1`` is 0.1%). A rule set to ``null``/absent is off.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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

    @model_validator(mode="after")
    def _stages_consistent(self) -> RiskConfig:
        if self.active_stage is not None and self.active_stage not in self.stages:
            known = ", ".join(sorted(self.stages)) or "none defined"
            raise ValueError(f"active_stage {self.active_stage!r} is not one of the stages ({known})")
        for name, stage in self.stages.items():
            if stage.next_stage is not None and stage.next_stage not in self.stages:
                raise ValueError(f"stages.{name}.next_stage {stage.next_stage!r} is not a defined stage")
        return self

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


class RiskConfigError(ValueError):
    """Invalid risk settings; ``errors`` holds one ``risk.<field>: problem`` line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid risk configuration:\n  " + "\n  ".join(errors))
        self.errors = errors


def _messages(exc: ValidationError, prefix: str) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling; see docs/RISK.md)"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] not in ("missing",) and "input" in err and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
        out.append(f"{loc}: {msg}")
    return out


def load_risk_config(data: Mapping[str, Any] | None) -> RiskConfig:
    """Validate the ``risk`` section of the app config; errors name the field as ``risk.<field>``."""
    if data is None:
        return RiskConfig()
    if not isinstance(data, Mapping):
        raise RiskConfigError([f"risk: expected a table of settings, got {type(data).__name__}"])
    try:
        return RiskConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise RiskConfigError(_messages(exc, "risk")) from None


def load_risk_config_file(path: Path) -> RiskConfig:
    """Read risk settings from a TOML or YAML file: either the settings at top level, or a ``risk`` table."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RiskConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(raw.decode("utf-8"))
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(raw) or {}
        else:
            raise RiskConfigError([f"{path}: unknown format (use .toml, .yaml or .yml)"])
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RiskConfigError([f"{path}: not valid {path.suffix.lstrip('.').upper()}: {exc}"]) from None
    if isinstance(data, Mapping) and "risk" in data:
        data = data["risk"]
    try:
        return load_risk_config(data)
    except RiskConfigError as exc:
        raise RiskConfigError([f"{path}: {e}" for e in exc.errors]) from None
