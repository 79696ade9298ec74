"""The exchange simulator: a local Binance-Spot-compatible exchange for offline runs and fire drills.

It owns everything behind ``tradewarden sim``: replaying candles on a simulated clock (real time,
accelerated or stepped) with deterministic intra-candle price paths, the matching engine with balances,
locks, fees and Binance's filters, the REST API, market streams and WebSocket API user data stream that
unmodified ccxt and ccxt.pro speak, fault injection (from a control endpoint or a scenario file) with a log
of what fired, and :mod:`tradewarden.simulator.testing`, the stable API other packages' tests use to run it
in-process.
"""

from tradewarden.simulator.config import SimConfig
from tradewarden.simulator.errors import BinanceError, SimConfigError

__all__ = ["BinanceError", "SimConfig", "SimConfigError"]
