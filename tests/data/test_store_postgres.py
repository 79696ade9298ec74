"""The SQL candle store against the real PostgreSQL server (unique table names, dropped afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from tradewarden.data.store import StoreError
from tradewarden.data.store_sql import SqlCandleStore
from tradewarden.domain.candles import CandleSeries

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_store() -> Iterator[SqlCandleStore]:
    try:
        store = SqlCandleStore(PG_URL, table=f"candles_t{uuid.uuid4().hex[:12]}")
    except StoreError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    try:
        yield store
    finally:
        store.drop_tables()
        store.close()


def test_postgres_round_trip_upsert_and_listing(
    pg_store: SqlCandleStore, mk: Callable[..., CandleSeries]
) -> None:
    s = mk(3000)
    assert pg_store.write("binance", s) == 3000
    newer = mk(10, start=int(s.ts[-5]), seed=3)
    pg_store.write("binance", newer)
    back = pg_store.load("binance", "BTC/USDT", "1m")
    assert len(back) == 3005
    assert np.array_equal(back.ts[:2995], s.ts[:2995])
    assert back.close[-10:].tolist() == newer.close.tolist()
    pg_store.add_exchange_gap("binance", "BTC/USDT", "1m", 1, 2)
    (info,) = pg_store.series()
    assert (info.count, info.first_ts, info.exchange_gaps) == (3005, int(s.ts[0]), [(1, 2)])


def test_postgres_write_many_is_one_transaction(pg_store: SqlCandleStore, mk: Callable[..., CandleSeries]) -> None:
    btc, eth = mk(40), mk(40, symbol="ETH/USDT", seed=2)
    assert pg_store.write_many("binance", [btc, eth]) == 80
    later = mk(3, start=int(btc.ts[-1]) + 60_000)
    broken = mk(3, symbol="XRP/USDT")
    broken.low[0] = broken.high[0] + 1
    with pytest.raises(StoreError, match="XRP/USDT"):
        pg_store.write_many("binance", [later, broken])
    assert {(i.symbol, i.count) for i in pg_store.series()} == {("BTC/USDT", 40), ("ETH/USDT", 40)}


def test_instances_opening_a_fresh_database_together_all_get_the_store() -> None:
    """Fleet instances start together: their stores must not race to create the tables."""
    import threading

    table = f"candles_t{uuid.uuid4().hex[:12]}"
    barrier = threading.Barrier(6)
    opened: list[SqlCandleStore] = []
    failures: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            opened.append(SqlCandleStore(PG_URL, table=table))
        except BaseException as exc:  # collected: the assertion is made on the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert failures == []
        assert len(opened) == 6
        assert opened[0].write("binance", _one_candle()) == 1
        assert len(opened[-1].load("binance", "BTC/USDT", "1m")) == 1
    finally:
        if opened:
            opened[0].drop_tables()
        for store in opened:
            store.close()


def _one_candle() -> CandleSeries:
    return CandleSeries(np.array([1_704_067_200_000], dtype=np.int64), *(np.array([1.0]) for _ in range(5)),
                        symbol="BTC/USDT", timeframe="1m")  # type: ignore[misc]


def test_unreachable_database_gives_clear_error() -> None:
    with pytest.raises(
        StoreError, match=r"cannot open candle store postgresql://postgres:\*\*\*@127.0.0.1:1/x"
    ):
        SqlCandleStore("postgresql://postgres:secretpw@127.0.0.1:1/x")
