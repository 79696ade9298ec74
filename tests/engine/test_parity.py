"""The two ways to drive the engine must agree exactly: the whole backtest at once (compiled batch path)
and the same candles fed one at a time through the per-candle path that live modes use."""

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tradewarden.backtest.core import simulate_batch, simulate_per_candle
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.data import load_candles
from tradewarden.domain.instrument import Instrument
from tradewarden.strategies import load_strategy
from tradewarden.venues.params import FillSettings

CASES = [
    ("sma_cross", {"fast": 10, "slow": 30}, FillSettings(), "equity_fraction"),
    ("donchian", {}, FillSettings(stop_loss_pct=1.0, take_profit_pct=3.0, trailing_stop_pct=1.5), "equity_fraction"),
    ("rsi", {}, FillSettings(allow_short=True, slippage_bps=Decimal(5)), "fixed"),
    ("sma_atr", {"fast": 10, "slow": 40, "min_atr_frac": 0.001}, FillSettings(volume_fraction=0.02), "fixed"),
]


@pytest.mark.parametrize(("name", "params", "fill", "sizing"), CASES, ids=[c[0] for c in CASES])
def test_batch_and_per_candle_paths_agree(shared_data: Path, events: object, name: str, params: dict[str, int],
                                          fill: FillSettings, sizing: str) -> None:
    candles = load_candles(shared_data / "BTCUSDT-1m-2021-04-20_2021-05-20.csv")[:6000]
    settings = BacktestSettings(fill=fill, sizing=sizing, fixed_qty=Decimal("0.5"))
    inst = Instrument.default_spot("BTC/USDT")
    strategy = load_strategy(name, params)
    batch_events = type(events)()  # type: ignore[operator]
    a = simulate_batch(candles, strategy, settings, inst, events=batch_events, keep_records=True)
    b = simulate_per_candle(candles, strategy, settings, inst, events=events)  # type: ignore[arg-type]
    assert len(a.fills) > 20
    assert a.orders == b.orders
    assert a.fills == b.fills
    assert np.array_equal(a.equity_atoms, b.equity_atoms)
    assert a.trades == b.trades
    assert a.fees_atoms == b.fees_atoms
    # the events both paths write are the same, in the same order, as they appear in events.jsonl
    assert [as_written(e) for e in batch_events.events] == [as_written(e) for e in events.events]  # type: ignore[attr-defined]


def as_written(event: tuple[str, int, dict[str, object]]) -> tuple[str, int, dict[str, object]]:
    type_, ts, fields = event
    return type_, ts, {k: format(v, "f") if isinstance(v, Decimal) else v for k, v in fields.items()}
