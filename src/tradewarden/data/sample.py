"""The bundled samples, so the default commands need nothing else: Binance BTC/USDT spot candles.

* 1h, 2021-01-01 .. 2022-12-31 (the backtest default), the last two years of the shared
  ``BTCUSDT-1h-2017-08-17_2022-12-31.csv``;
* 1m, 2024-04-02 .. 2024-04-07 (what the built-in exchange simulator replays for paper/shadow sessions),
  the shared ``BTCUSDT-1m-2024-04-02_2024-04-07.csv``.

Both come from the MIT-licensed NIC-project-team/TradingStrategyGA repository; the prices are from Binance's
public market-data API.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE_SYMBOL = "BTC/USDT"
SAMPLE_TIMEFRAME = "1h"
SAMPLE_FILE = "BTCUSDT-1h-2021-01-01_2022-12-31.csv"
SAMPLE_1M_FILE = "BTCUSDT-1m-2024-04-02_2024-04-07.csv"


def sample_path() -> Path:
    return Path(str(resources.files("tradewarden.data").joinpath("sample", SAMPLE_FILE)))


def sample_1m_path() -> Path:
    return Path(str(resources.files("tradewarden.data").joinpath("sample", SAMPLE_1M_FILE)))
