"""The candle stores: Arrow IPC files (default) and SQL (SQLite here, PostgreSQL in test_store_postgres)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tradewarden.data.store import CandleStore, StoreError, empty_series, merge, missing_ranges, open_store
from tradewarden.data.store_arrow import ArrowCandleStore
from tradewarden.data.store_sql import SqlCandleStore
from tradewarden.domain.candles import CandleSeries

MIN = 60_000
T0 = 1_704_067_200_000


@pytest.fixture(params=["arrow", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> CandleStore:
    if request.param == "arrow":
        return ArrowCandleStore(tmp_path / "candles")
    return SqlCandleStore(f"sqlite:///{tmp_path / 'candles.db'}")


def test_round_trip_across_month_partitions(store: CandleStore, mk: Callable[..., CandleSeries]) -> None:
    s = mk(3 * 24 * 60, start=T0 - 24 * 60 * MIN)  # 2023-12-31 .. 2024-01-02: two months
    assert store.write("binance", s) == len(s)
    back = store.load("binance", "BTC/USDT", "1m")
    assert np.array_equal(back.ts, s.ts)
    for col in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(back, col), getattr(s, col))
    window = store.load("binance", "BTC/USDT", "1m", T0, T0 + 10 * MIN)
    assert window.ts.tolist() == [T0 + i * MIN for i in range(10)]


def test_rewrite_replaces_values_at_same_time_and_keeps_others(
    store: CandleStore, mk: Callable[..., CandleSeries]
) -> None:
    s = mk(100)
    store.write("binance", s)
    newer = mk(10, start=T0 + 95 * MIN, seed=7)  # overlaps the last 5, adds 5
    store.write("binance", newer)
    back = store.load("binance", "BTC/USDT", "1m")
    assert len(back) == 105
    assert back.close[95:].tolist() == newer.close.tolist()
    assert back.close[:95].tolist() == s.close[:95].tolist()


def test_series_listing_reports_range_count_and_gaps(
    store: CandleStore, mk: Callable[..., CandleSeries]
) -> None:
    s = mk(100)
    keep = np.ones(100, dtype=bool)
    keep[40:43] = False
    holed = CandleSeries(
        *(getattr(s, c)[keep] for c in ("ts", "open", "high", "low", "close", "volume")),
        symbol="ETH/USDT",
        timeframe="1m",
    )  # type: ignore[misc]
    store.write("binance", holed)
    store.write("kraken", mk(5, timeframe="1h"))
    infos = {(i.exchange, i.symbol, i.timeframe): i for i in store.series()}
    eth = infos[("binance", "ETH/USDT", "1m")]
    assert (eth.first_ts, eth.last_ts, eth.count, eth.missing) == (T0, T0 + 99 * MIN, 97, 3)
    assert [(g.after_ts, g.count) for g in eth.gaps] == [(T0 + 39 * MIN, 3)]
    assert infos[("kraken", "BTC/USDT", "1h")].count == 5


def test_bad_candles_are_refused_with_series_and_row(
    store: CandleStore, mk: Callable[..., CandleSeries]
) -> None:
    s = mk(5)
    s.high[2] = s.low[2] - 1  # high below low
    with pytest.raises(StoreError, match=r"binance BTC/USDT 1m: row 2: high is below"):
        store.write("binance", s)


def test_write_many_writes_every_series_and_a_bad_one_refuses_the_batch(
    store: CandleStore, mk: Callable[..., CandleSeries]
) -> None:
    btc, eth = mk(30), mk(20, symbol="ETH/USDT", seed=5)
    assert store.write_many("binance", [btc, eth, empty_series("SOL/USDT", "1m")]) == 50
    assert store.load("binance", "ETH/USDT", "1m").close.tolist() == eth.close.tolist()
    assert len(store.load("binance", "BTC/USDT", "1m")) == 30
    more, bad = mk(5, start=T0 + 30 * MIN), mk(5, symbol="XRP/USDT")
    bad.high[1] = bad.low[1] - 1
    with pytest.raises(StoreError, match=r"binance XRP/USDT 1m: row 1: high is below"):
        store.write_many("binance", [more, bad])
    assert len(store.load("binance", "BTC/USDT", "1m")) == 30  # the good series of the batch was not written
    assert len(store.load("binance", "XRP/USDT", "1m")) == 0


def test_exchange_gaps_are_remembered(store: CandleStore, mk: Callable[..., CandleSeries]) -> None:
    store.write("binance", mk(3))
    store.add_exchange_gap("binance", "BTC/USDT", "1m", T0 + 10 * MIN, T0 + 20 * MIN)
    store.add_exchange_gap("binance", "BTC/USDT", "1m", T0 + 10 * MIN, T0 + 20 * MIN)
    assert store.exchange_gaps("binance", "BTC/USDT", "1m") == [(T0 + 10 * MIN, T0 + 20 * MIN)]


def test_empty_store_loads_empty_series(store: CandleStore) -> None:
    s = store.load("binance", "BTC/USDT", "1m")
    assert len(s) == 0 and s.ts.dtype == np.int64
    assert store.series() == []


def test_missing_ranges_subtracts_stored_and_known_empty() -> None:
    stored = np.array([T0 + i * MIN for i in (0, 1, 2, 5, 6)], dtype=np.int64)
    got = missing_ranges(stored, T0, T0 + 10 * MIN, MIN, [(T0 + 8 * MIN, T0 + 9 * MIN)])
    assert got == [(T0 + 3 * MIN, T0 + 5 * MIN), (T0 + 7 * MIN, T0 + 8 * MIN), (T0 + 9 * MIN, T0 + 10 * MIN)]
    assert missing_ranges(stored, T0, T0 + 3 * MIN, MIN, []) == []
    assert missing_ranges(np.empty(0, np.int64), T0 + 1, T0 + 2 * MIN, MIN, []) == [(T0 + MIN, T0 + 2 * MIN)]


def test_merge_prefers_new_values(mk: Callable[..., CandleSeries]) -> None:
    old = mk(3)
    new = mk(2, start=T0 + MIN, seed=9)
    m = merge(old, new)
    assert m.ts.tolist() == [T0, T0 + MIN, T0 + 2 * MIN]
    assert m.close.tolist() == [old.close[0], *new.close.tolist()]


def test_open_store_picks_implementation(tmp_path: Path) -> None:
    assert isinstance(open_store(None, tmp_path), ArrowCandleStore)
    assert isinstance(open_store(str(tmp_path / "x")), ArrowCandleStore)
    assert isinstance(open_store(f"sqlite:///{tmp_path / 'c.db'}"), SqlCandleStore)
    with pytest.raises(StoreError, match="no candle store"):
        open_store(None)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        open_store(tmp_path / "file")


def test_corrupt_arrow_file_is_named(tmp_path: Path, mk: Callable[..., CandleSeries]) -> None:
    store = ArrowCandleStore(tmp_path)
    store.write("binance", mk(3))
    part = next(tmp_path.rglob("2024-01.arrow"))
    part.write_bytes(b"not arrow")
    with pytest.raises(StoreError, match=r"2024-01\.arrow: unreadable candle file"):
        store.load("binance", "BTC/USDT", "1m")
