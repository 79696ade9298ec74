"""The bundled sample: BTC/USDT 1h candles of 2021-2022 from Binance, so the main job needs nothing else.

Taken from the shared ``BTCUSDT-1h-2017-08-17_2022-12-31.csv`` (MIT-licensed source,
NIC-project-team/TradingStrategyGA; prices from Binance's public market-data API).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE_SYMBOL = "BTC/USDT"
SAMPLE_TIMEFRAME = "1h"
SAMPLE_FILE = "BTCUSDT-1h-2021-01-01_2022-12-31.csv"


def sample_path() -> Path:
    return Path(str(resources.files("tradewarden.data").joinpath("sample", SAMPLE_FILE)))
