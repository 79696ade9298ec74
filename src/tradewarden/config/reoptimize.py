"""The ``reoptimize`` section of the configuration: when a running bot re-optimizes its strategy's parameters
on recent data, with how many trials and what timeout, and by how much the new parameters must beat the live
ones before they replace ``strategy.params_file``. :mod:`tradewarden.runtime.reoptimize` acts on it.
"""

from __future__ import annotations

from pydantic import Field

from tradewarden.config.section import Section, UserPath


class ReoptimizeConfig(Section):
    """Scheduled re-optimization of the strategy's parameters by a running bot (off unless ``every_days`` is set):
    the optimizer runs in its own process on recent data and its parameters replace ``strategy.params_file``
    only when they beat the live ones by ``margin`` (docs/OPTIMIZE.md, "Scheduled re-optimization")."""

    every_days: float | None = Field(None, gt=0, allow_inf_nan=False)  # None: never
    lookback_days: float = Field(90.0, gt=0, allow_inf_nan=False)  # the most recent data it optimizes on
    trials: int = Field(100, ge=1)
    margin: float = Field(0.10, ge=0, allow_inf_nan=False)  # the holdout Sharpe gain required, as a fraction
    # a candle file, directory or candle store; None: the data directory's candle store when it has one
    # (`data download`), else the candles this session recorded
    data: UserPath | None = None
    timeout_minutes: float = Field(60.0, gt=0, allow_inf_nan=False)  # the optimizer process is killed after this
