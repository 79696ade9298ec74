"""tradewarden: a crypto trading bot whose one engine runs backtest, paper, shadow and live trading."""

from tradewarden import _kernel_cache

__version__ = "0.1.0"

_kernel_cache.configure()
