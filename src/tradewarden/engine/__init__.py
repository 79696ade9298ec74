"""The engine: the per-candle loop every mode runs, its decision logic and portfolio accounting.

The engine turns closed candles into strategy signals, signals into orders (sizing included), passes each
order through the pre-trade check and hands it to a venue; it books what the venue reports. It does not
know which mode it runs in: candles and venue are given to it. The decision logic is a numba function so
that the batch backtest path (:mod:`tradewarden.backtest.fast`) runs the very same code in one compiled
loop.
"""

from tradewarden.engine.engine import Engine, EngineSettings

__all__ = ["Engine", "EngineSettings"]
