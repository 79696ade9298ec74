"""The batch path formats its events from arrays; the journal file must hold exactly the bytes the
per-candle path writes through ``EventJournal.emit``, event by event."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tradewarden.backtest import walk
from tradewarden.backtest.core import simulate_batch, simulate_per_candle
from tradewarden.backtest.event_lines import grid_texts, iso_times
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.data import load_candles
from tradewarden.domain.instrument import Instrument
from tradewarden.observability import EventJournal, iso_utc
from tradewarden.strategies import load_strategy
from tradewarden.venues.params import FillSettings


@pytest.mark.slow
@pytest.mark.parametrize(("name", "params", "fill", "sizing"), [
    ("sma_atr", {"fast": 10, "slow": 40, "min_atr_frac": 0.001}, FillSettings(volume_fraction=0.02), "fixed"),
    ("donchian", {}, FillSettings(stop_loss_pct=1.0, take_profit_pct=3.0, trailing_stop_pct=1.5), "equity_fraction"),
    ("rsi", {}, FillSettings(allow_short=True, slippage_bps=Decimal(5)), "fixed"),
], ids=["partial-fills-stops", "protective-orders", "shorts"])
def test_batch_journal_file_is_byte_identical_to_per_candle(shared_data: Path, tmp_path: Path, name: str,
                                                           params: dict[str, float], fill: FillSettings,
                                                           sizing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walk, "BLOCK_BARS", 5)  # many block edges: a bar's events never split or lost
    candles = load_candles(shared_data / "BTCUSDT-1m-2021-04-20_2021-05-20.csv")[:4000]
    settings = BacktestSettings(fill=fill, sizing=sizing, fixed_qty=Decimal("0.5"))
    inst = Instrument.default_spot("BTC/USDT")
    strategy = load_strategy(name, params)
    with EventJournal(tmp_path / "batch.jsonl") as batch:
        simulate_batch(candles, strategy, settings, inst, batch)
    with EventJournal(tmp_path / "per_candle.jsonl") as per_candle:
        simulate_per_candle(candles, strategy, settings, inst, per_candle)
    written = (tmp_path / "batch.jsonl").read_bytes()
    assert written.count(b'"type":"Fill"') > 20
    assert written == (tmp_path / "per_candle.jsonl").read_bytes()


def test_grid_texts_are_the_instrument_texts() -> None:
    inst = Instrument.default_spot("BTC/USDT")
    odd = Instrument("X/Y", "X", "Y", Decimal("0.05"), Decimal("0.010"))  # neither a plain power of ten
    units = np.array([0, 1, 7, 99, 100, 101, 12345678, -1, -100, -12345678, 10**15 + 3], dtype=np.int64)
    for grid, one in ((inst.tick_size, inst.ticks_text), (inst.step_size, inst.steps_text),
                      (inst.atom, inst.atoms_text), (odd.tick_size, odd.ticks_text), (odd.step_size, odd.steps_text),
                      (Decimal(1), lambda u: str(u))):
        assert grid_texts(units, grid) == [one(u) for u in units.tolist()], grid


def test_iso_times_are_iso_utc() -> None:
    ms = np.array([0, 1, 999, 1_609_459_200_000, 1_609_459_200_123, 1_709_251_199_999, 4_102_444_800_000],
                  dtype=np.int64)
    assert iso_times(ms) == [iso_utc(t) for t in ms.tolist()]
