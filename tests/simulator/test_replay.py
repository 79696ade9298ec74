"""The replay: intra-candle paths, closed candles equal to the data, klines never from the future."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradewarden.data import load_candles, sample_path
from tradewarden.simulator.config import SimConfig
from tradewarden.simulator.errors import SimConfigError
from tradewarden.simulator.exchange import EndOfDataError, Exchange
from tradewarden.simulator.pricing import CandleBar, price_path

BAR = CandleBar(
    0, Decimal("100.00"), Decimal("110.00"), Decimal("95.00"), Decimal("104.00"), Decimal("12.34567")
)


@pytest.mark.parametrize("seed", range(20))
def test_path_starts_at_open_ends_at_close_and_touches_both_extremes(seed: int) -> None:
    path = price_path(BAR, 12, seed, "BTC/USDT", Decimal("0.01"), Decimal("0.00001"))
    prices = [s.price for s in path]
    assert len(path) == 12
    assert prices[0] == BAR.open and prices[-1] == BAR.close
    assert max(prices) == BAR.high and min(prices) == BAR.low
    assert sum(s.qty for s in path) == BAR.volume
    assert all(p % Decimal("0.01") == 0 for p in prices)


def test_path_is_deterministic_per_seed_and_differs_between_seeds() -> None:
    a = price_path(BAR, 12, 7, "BTC/USDT", Decimal("0.01"), Decimal("0.00001"))
    b = price_path(BAR, 12, 7, "BTC/USDT", Decimal("0.01"), Decimal("0.00001"))
    others = {
        tuple(s.price for s in price_path(BAR, 12, s, "BTC/USDT", Decimal("0.01"), Decimal("0.00001")))
        for s in range(10)
    }
    assert a == b
    assert len(others) > 1


def test_closed_candles_equal_the_data(core: Exchange) -> None:
    series = load_candles(sample_path())
    closed = core.step(5)
    assert len(closed) == 5
    for i, c in enumerate(closed):
        k = 100 + i
        assert c.bar.ts == int(series.ts[k])
        assert (float(c.bar.open), float(c.bar.high), float(c.bar.low), float(c.bar.close)) == (
            series.open[k],
            series.high[k],
            series.low[k],
            series.close[k],
        )
        assert abs(float(c.bar.volume) - series.volume[k]) < 1e-5


def test_klines_stop_at_the_simulated_now(core: Exchange) -> None:
    m = core.markets["BTCUSDT"]
    core.advance_ms(30 * 60_000)
    rows = m.klines(3_600_000, None, None, 1000, core.now_ms)
    assert rows[-1].t <= core.now_ms < rows[-1].T
    assert not rows[-1].closed and rows[-2].closed
    assert len(rows) == 101  # 100 candles of history plus the open one
    assert m.klines(3_600_000, core.now_ms + 3_600_000, None, 10, core.now_ms) == []


def test_wider_interval_aggregates_the_base_candles(core: Exchange) -> None:
    m = core.markets["BTCUSDT"]
    core.step(8)
    four_h = m.klines(4 * 3_600_000, None, None, 3, core.now_ms)
    closed = [k for k in four_h if k.closed]
    assert closed
    k = closed[-1]
    base = [m.closed_kline(i) for i in range(len(m)) if k.t <= int(m.ts[i]) < k.t + 4 * 3_600_000]
    assert len(base) == 4
    assert k.o == base[0].o and k.c == base[-1].c
    assert k.h == max(b.h for b in base) and k.low == min(b.low for b in base)
    assert k.v == sum(b.v for b in base)


def test_step_past_the_end_of_data_is_reported() -> None:
    ex = Exchange(SimConfig(start_index=len(load_candles(sample_path())) - 2))
    ex.start()
    ex.step(5)
    assert ex.finished
    with pytest.raises(EndOfDataError):
        ex.step(1)


def test_several_symbols_from_one_file_are_scaled_copies() -> None:
    ex = Exchange(SimConfig(symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"]))
    ex.start()
    btc, eth, sol = (ex.by_symbol[s].bar(100) for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT"))
    assert eth.open == (btc.open * Decimal("1.01")).quantize(Decimal("0.01"))
    assert sol.open == (btc.open * Decimal("1.02")).quantize(Decimal("0.01"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": ["BTCUSDT"]}, "BASE/QUOTE"),
        ({"start_index": 10**7}, "start_index"),
        ({"data": "/nonexistent/file.csv"}, "file not found"),
        ({"ticks_per_candle": 2}, "ticks_per_candle"),
        ({"timeframe": "1m"}, "timeframe"),
    ],
)
def test_bad_config_names_the_problem(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SimConfigError, match=message):
        Exchange(SimConfig(**kwargs))  # type: ignore[arg-type]
