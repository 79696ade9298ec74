"""The replay feed: history is the warm-up part, the stream yields the rest in order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tradewarden.data import ReplayFeed, sample_path
from tradewarden.domain.candles import CandleSeries
from tradewarden.domain.ports import MarketDataFeed


async def test_history_then_stream_then_ticker(mk: Callable[..., CandleSeries]) -> None:
    s = mk(20)
    feed: MarketDataFeed = ReplayFeed(s, warmup=5)
    hist = await feed.history("BTC/USDT", "1m", 3)
    assert [c.ts for c in hist] == s.ts[2:5].tolist()
    assert (await feed.ticker("BTC/USDT"))["last"] == s.close[4]
    got = [c async for c in feed.closed_candles("BTC/USDT", "1m")]
    assert got == [s.candle(i) for i in range(5, 20)]
    assert (await feed.ticker("BTC/USDT"))["last"] == s.close[19]


async def test_several_series_and_unknown_key(mk: Callable[..., CandleSeries]) -> None:
    feed = ReplayFeed([mk(3), mk(4, symbol="ETH/USDT", timeframe="1h")])
    assert len([c async for c in feed.closed_candles("ETH/USDT", "1h")]) == 4
    with pytest.raises(KeyError, match="no BTC/USDT 5m candles"):
        await feed.history("BTC/USDT", "5m", 1)
    with pytest.raises(KeyError, match="no price for DOGE/USDT"):
        await feed.ticker("DOGE/USDT")


async def test_from_file_bundled_sample() -> None:
    feed = ReplayFeed.from_file(sample_path(), warmup=100)
    assert len(await feed.history("BTC/USDT", "1h", 500)) == 100
    n = 0
    async for _ in feed.closed_candles("BTC/USDT", "1h"):
        n += 1
    assert n > 17_000


def test_negative_warmup_refused(tmp_path: Path, mk: Callable[..., CandleSeries]) -> None:
    with pytest.raises(ValueError, match="warmup"):
        ReplayFeed(mk(3), warmup=-1)
