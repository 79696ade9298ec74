"""The simulator's per-candle caches stay bounded over a long session and forget nothing that matters: what
they dropped is derived again, identically."""

from __future__ import annotations

from decimal import Decimal

from tradewarden.data import load_candles
from tradewarden.data.sample import sample_1m_path
from tradewarden.simulator.market import BARS_CACHED, PATHS_CACHED, SymbolMarket, bars_cached
from tradewarden.simulator.symbols import spot_instrument


def test_a_long_replay_keeps_bounded_caches_and_rebuilds_dropped_candles_identically() -> None:
    series = load_candles(sample_1m_path())
    n = 6000  # candles served: well over what the caches may hold (a day of 1m bars, 16 paths)
    assert len(series) > n
    m = SymbolMarket(spot_instrument("BTC/USDT"), series, Decimal(1), seed=3, ticks=12, spread_bps=Decimal(2),
                     tf_ms=60_000)
    first = [m.closed_kline(i) for i in range(n)]
    assert len(m._bars) <= 1441 and len(m._stats) <= 1441 and len(m._paths) <= PATHS_CACHED
    # the oldest candles were dropped from every cache: they come back the same
    assert [m.closed_kline(i) for i in range(50)] == first[:50]


def test_the_bar_cache_covers_the_recent_candles_and_a_day_for_the_24h_ticker() -> None:
    assert bars_cached(300_000) == BARS_CACHED == 512  # 5m: the recent candles a session asks for
    assert bars_cached(60_000) == 1441  # 1m: the ticker's 24h window, walked at every new candle
    assert bars_cached(1_000) == 4 * BARS_CACHED  # 1s: bounded all the same


def test_a_page_of_1000_klines_is_the_same_when_served_past_the_cache() -> None:
    """Binance's largest klines page is twice the 5m cache: the older half is derived from the data's arrays
    again, identically, and the candle in progress still streams from its cached path."""
    from tradewarden.data.resample import resample

    series = resample(load_candles(sample_1m_path()), "5m")
    assert len(series) > 1200
    m = SymbolMarket(spot_instrument("BTC/USDT"), series, Decimal(2), seed=5, ticks=12, spread_bps=Decimal(2),
                     tf_ms=300_000)
    for i in range(1200):
        m.open_candle(i)
        for j in range(12):
            m.apply_step(j, int(series.ts[i]) + j * 25_000)
        m.close()
    m.open_candle(1200)
    now = int(series.ts[1200]) + 1
    first = m.klines(300_000, None, None, 1000, now)
    assert len(first) == 1000 and len(m._bars) == BARS_CACHED
    m._bars.clear(), m._stats.clear(), m._paths.clear()
    assert m.klines(300_000, None, None, 1000, now) == first
