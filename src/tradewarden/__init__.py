"""tradewarden: a crypto trading bot whose one engine runs backtest, paper, shadow and live trading."""

__version__ = "0.1.0"
