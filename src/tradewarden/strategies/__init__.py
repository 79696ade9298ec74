"""Strategies: the interface users write their own against, typed parameters with search ranges, the
built-in strategies (donchian, sma_cross, sma_atr, rsi) and the indicators they use.

A strategy turns closed candles into signals. It never sees a candle after "now": the per-candle path
hands it only the closed candles so far, and the batch path checks that its signals do not change when the
future is cut off (see :mod:`tradewarden.strategies.base`).
"""

from tradewarden.strategies.base import (
    BoolParam,
    ChoiceParam,
    FloatParam,
    IntParam,
    LookaheadError,
    Param,
    ParamError,
    Signals,
    Strategy,
)
from tradewarden.strategies.registry import BUILTINS, StrategyLoadError, load_strategy, strategy_class

__all__ = [
    "BUILTINS",
    "BoolParam",
    "ChoiceParam",
    "FloatParam",
    "IntParam",
    "LookaheadError",
    "Param",
    "ParamError",
    "Signals",
    "Strategy",
    "StrategyLoadError",
    "load_strategy",
    "strategy_class",
]
