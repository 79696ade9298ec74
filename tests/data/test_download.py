"""History download through ccxt against the simulator: pagination, resume, exchange gaps, 429 and 5xx."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
import pytest

from tradewarden.data.download import download
from tradewarden.data.retry import RetryPolicy
from tradewarden.data.store_arrow import ArrowCandleStore
from tradewarden.domain.events import EventType, payload_problems

sim_testing = pytest.importorskip("tradewarden.simulator.testing")
SYMBOL, TF, HOUR = "BTC/USDT", "1h", 3_600_000
FEB_11_0400 = 1_613_016_000_000  # the bundled 2021-2022 sample lacks this hour (Binance downtime)


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def emit(self, type_: EventType, ts: int, **fields: Any) -> None:
        problems = payload_problems(type_, fields)
        assert not problems, problems  # every event carries exactly its payload type's fields
        self.items.append((type_, fields))


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    with sim_testing.start_simulator(symbols=[SYMBOL], seed=1, start_index=1000) as handle:
        yield handle


@pytest.fixture
def exchange(sim: Any) -> Any:
    sim.clear_faults()
    return ccxt.binance(sim.ccxt_config())


def policy(exchange: Any, events: Events | None = None) -> tuple[RetryPolicy, list[float]]:
    sleeps: list[float] = []
    return RetryPolicy(sink=events, exchange=exchange, sleep=sleeps.append, rng=random.Random(1)), sleeps


def assert_store_matches_sim(store: ArrowCandleStore, sim: Any) -> None:
    want = sim.closed_candles(SYMBOL)
    got = store.load("binance", SYMBOL, TF)
    assert got.ts.tolist() == [c.ts for c in want]
    assert np.array_equal(got.close, np.array([float(c.close) for c in want]))
    assert np.array_equal(got.volume, np.array([float(c.volume) for c in want]))


def test_paginated_download_stores_exactly_the_closed_candles_and_reports_exchange_gap(
    tmp_path: Path, sim: Any, exchange: Any
) -> None:
    store = ArrowCandleStore(tmp_path)
    first = sim.closed_candles(SYMBOL)[0].ts
    progress: list[tuple[int, int]] = []
    report = download(
        exchange,
        store,
        "binance",
        SYMBOL,
        TF,
        first - 5 * HOUR,
        retry=policy(exchange)[0],
        page_limit=200,
        progress=lambda d, t: progress.append((d, t)),
    )
    assert_store_matches_sim(store, sim)
    assert report.fetched == report.stored == 1000
    assert report.requests >= 6  # one probe for the forming candle, then 200 a page
    assert (FEB_11_0400, FEB_11_0400 + HOUR) in report.exchange_gaps
    assert (first - 5 * HOUR, first) in report.exchange_gaps  # before the data starts
    assert [g.after_ts for g in report.gaps] == [FEB_11_0400 - HOUR]
    assert progress[-1][0] == progress[-1][1] > 0

    again = download(exchange, store, "binance", SYMBOL, TF, first - 5 * HOUR, retry=policy(exchange)[0])
    assert (again.fetched, again.requests) == (0, 1)  # nothing missing: the known gaps are not re-asked


def test_interrupted_download_resumes_with_only_the_rest(tmp_path: Path, sim: Any, exchange: Any) -> None:
    store = ArrowCandleStore(tmp_path)
    first = sim.closed_candles(SYMBOL)[0].ts
    # the 4th page fails with an error that is not retried, as a crash or Ctrl-C would stop the run
    p, _ = policy(exchange)
    calls = {"n": 0}
    original = exchange.fetch_ohlcv

    def fourth_page_fails(*args: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 5:
            raise ccxt.BadSymbol("interrupted")
        return original(*args, **kw)

    exchange.fetch_ohlcv = fourth_page_fails
    with pytest.raises(ccxt.BadSymbol):
        download(exchange, store, "binance", SYMBOL, TF, first, retry=p, page_limit=100, flush_every=100)
    kept = len(store.load("binance", SYMBOL, TF))
    assert kept == 300  # three pages were written before the failure
    exchange.fetch_ohlcv = original
    resumed = download(exchange, store, "binance", SYMBOL, TF, first, retry=p, page_limit=100)
    assert resumed.fetched == 1000 - 300
    assert_store_matches_sim(store, sim)


def test_rate_limits_and_server_errors_are_retried_with_retry_after(
    tmp_path: Path, sim: Any, exchange: Any
) -> None:
    store = ArrowCandleStore(tmp_path)
    first = sim.closed_candles(SYMBOL)[0].ts
    events = Events()
    p, sleeps = policy(exchange, events)
    sim.inject("rate_limit", count=2, retry_after=3, path="klines")
    sim.inject("server_errors", count=2, status=503, path="klines")
    download(exchange, store, "binance", SYMBOL, TF, first, retry=p, page_limit=300)
    assert_store_matches_sim(store, sim)
    retries = [f for t, f in events.items if t == "ExchangeRetry"]
    assert [r["error"] for r in retries] == [
        "DDoSProtection",
        "DDoSProtection",
        "ExchangeNotAvailable",
        "ExchangeNotAvailable",
    ]
    assert sleeps[:2] == [3.0, 3.0]  # Retry-After honoured
    fired = [e for e in sim.faults_log() if e["event"] == "fired"]
    assert len(fired) >= 4


def test_ban_longer_than_budget_gives_up_with_clear_error(tmp_path: Path, sim: Any, exchange: Any) -> None:
    events = Events()
    p = RetryPolicy(sink=events, exchange=exchange, sleep=lambda s: None, max_total_s=30)
    sim.inject("ban", count=5, retry_after=120, path="klines")
    with pytest.raises(ccxt.DDoSProtection):
        download(exchange, ArrowCandleStore(tmp_path), "binance", SYMBOL, TF, 0, retry=p)
    assert [t for t, _ in events.items] == ["ExchangeGaveUp"]
    sim.clear_faults()
