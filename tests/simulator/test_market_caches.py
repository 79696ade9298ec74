"""The simulator's per-candle caches stay bounded over a long session and forget nothing that matters: what
they dropped is derived again, identically."""

from __future__ import annotations

from decimal import Decimal

from tradewarden.data import load_candles
from tradewarden.data.sample import sample_1m_path
from tradewarden.simulator.market import SymbolMarket
from tradewarden.simulator.symbols import spot_instrument


def test_a_long_replay_keeps_bounded_caches_and_rebuilds_dropped_candles_identically() -> None:
    series = load_candles(sample_1m_path())
    n = 6000  # candles served: well over what the caches may hold (2048 bars, 256 paths)
    assert len(series) > n
    m = SymbolMarket(spot_instrument("BTC/USDT"), series, Decimal(1), seed=3, ticks=12, spread_bps=Decimal(2),
                     tf_ms=60_000)
    first = [m.closed_kline(i) for i in range(n)]
    assert len(m._bars) <= 2048 and len(m._stats) <= 2048 and len(m._paths) <= 256
    # the oldest candles were dropped from every cache: they come back the same
    assert [m.closed_kline(i) for i in range(50)] == first[:50]
