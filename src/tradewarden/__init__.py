"""tradewarden: a crypto trading bot whose one engine runs backtest, paper, shadow and live trading."""

from tradewarden import _ccxt_lazy, _kernel_cache

__version__ = "0.1.0"

_kernel_cache.configure()
_ccxt_lazy.install()  # before any module of ours imports ccxt: load only the exchanges a process uses
