"""The simulator replays a directory holding each symbol at several timeframes (as ``shared/data`` does)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tradewarden.data import load_candles
from tradewarden.simulator.config import SimConfig
from tradewarden.simulator.exchange import load_series


def test_a_directory_of_several_timeframes_replays_the_requested_one(shared_data: Path) -> None:
    out = load_series(SimConfig(data=shared_data, symbols=["BTC/USDT", "ETH/USDT"], timeframe="1h"))
    by_symbol = {inst.symbol: series for inst, series, _ in out}
    eth = load_candles(shared_data / "ETHUSDT-1h-2017-08-17_2022-07-11.csv")
    assert by_symbol["ETH/USDT"].timeframe == "1h" and np.array_equal(by_symbol["ETH/USDT"].close, eth.close)
    # BTC/USDT 1h is split over two files (to 2022, from 2023): both, in order
    assert len(by_symbol["BTC/USDT"]) == 46_981 + 11_438
    assert np.all(np.diff(by_symbol["BTC/USDT"].ts) > 0)
