"""What a backtest holds at its memory peaks (a year of one-minute candles must run within 250 MB):
the reader's columns are separate arrays, so a caller can let some go; a simulation keeps no reference
to the candles; and the signals are let go before the walk over the results builds trades and events.
Checked by byte counts (tracemalloc) and by whether an array is still alive (weak references), not by
timings."""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import tradewarden.backtest.core as core
from tradewarden.backtest.core import simulate_batch
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.backtest.walk import walk_activity
from tradewarden.data import load_candles
from tradewarden.data.csv_fast import parse_plain_csv
from tradewarden.domain.candles import CandleSeries
from tradewarden.domain.instrument import Instrument
from tradewarden.strategies import load_strategy

ROWS = 100_000


@pytest.fixture
def minutes_csv(tmp_path: Path) -> Path:
    ts = 1_672_531_200_000 + np.arange(ROWS, dtype=np.int64) * 60_000
    close = np.round(30_000 + np.cumsum(np.random.default_rng(5).normal(0.0, 20.0, ROWS)), 2)
    lines = [f"{t},{p:.2f},{p + 5:.2f},{p - 5:.2f},{p:.2f},1.5" for t, p in zip(ts.tolist(), close.tolist(),
                                                                            strict=True)]
    path = tmp_path / "BTCUSDT-1m-test.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(lines) + "\n")
    return path


def test_columns_not_kept_are_freed(minutes_csv: Path) -> None:
    tracemalloc.start()
    try:
        cols = parse_plain_csv(minutes_csv, True, 6)
        assert cols is not None
        ts, o, h, lo, c, v = cols
        held = tracemalloc.get_traced_memory()[0]
        del cols, o, h, lo, v   # keep the times and closes, as a backtest's reports do
        gc.collect()
        freed = held - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert c.shape == ts.shape == (ROWS,)
    # four float columns of ROWS values (one buffer holding all five columns freed nothing)
    assert freed >= 4 * ROWS * 8


def _run(series: CandleSeries) -> core.Simulation:
    settings = BacktestSettings(initial_cash=Decimal(100_000_000), sizing="fixed", fixed_qty=Decimal(1))
    return simulate_batch(series, load_strategy("sma_cross", {"fast": 5, "slow": 20}), settings,
                          Instrument.default_spot("BTC/USDT"), check_lookahead=False)


def test_a_simulation_keeps_no_reference_to_the_candles(minutes_csv: Path) -> None:
    series = load_candles(minutes_csv)
    opens = weakref.ref(series.open)
    sim = _run(series)
    del series
    gc.collect()
    assert sim.trades  # the run traded: there was something to hold
    assert opens() is None


def test_the_signals_are_let_go_before_the_walk(minutes_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    strategy = load_strategy("sma_cross", {"fast": 5, "slow": 20})
    targets: list[weakref.ref[np.ndarray]] = []
    alive_during_walk: list[bool] = []
    signals = strategy.signals

    def recorded_signals(candles: CandleSeries) -> object:
        sig = signals(candles)
        targets.append(weakref.ref(sig.target))
        return sig

    def recording_walk(*args: object, **kwargs: object) -> object:
        gc.collect()
        alive_during_walk.append(targets[-1]() is not None)
        return walk_activity(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(strategy, "signals", recorded_signals)
    monkeypatch.setattr(core, "walk_activity", recording_walk)
    settings = BacktestSettings(initial_cash=Decimal(100_000_000), sizing="fixed", fixed_qty=Decimal(1))
    sim = simulate_batch(load_candles(minutes_csv), strategy, settings, Instrument.default_spot("BTC/USDT"),
                         check_lookahead=False)
    assert sim.trades
    assert alive_during_walk == [False]
