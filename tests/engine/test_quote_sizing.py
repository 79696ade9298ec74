"""Sizing by a fixed quote amount per entry (e.g. 10 USDT of each entry), shared by both engine paths."""

from decimal import Decimal
from pathlib import Path

import pytest

from tradewarden.backtest.core import simulate_batch
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.data import load_candles
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.engine.decide import SIZING_QUOTE, decide, decision_buffer, entry_qty
from tradewarden.strategies import load_strategy

BTC = Instrument.default_spot("BTC/USDT")


def test_a_quote_amount_buys_whole_steps_worth_at_most_that_amount() -> None:
    amount = BTC.to_atoms(Decimal("10"))
    close = BTC.to_ticks(Decimal("30000.00"))
    assert entry_qty(10**12, close, SIZING_QUOTE, amount, 0, 1000, 200) == 33  # 0.00033 BTC = 9.90 USDT
    # the whole equity does not matter, only the amount and the price
    assert entry_qty(1, close, SIZING_QUOTE, amount, 0, 1000, 200) == 33
    out = decision_buffer()
    assert decide(1.0, 0, 0, 0, 10**12, close, False, 0, SIZING_QUOTE, amount, 0, 1000, 200, out) == 1
    assert out[0, 1] == 33


def test_a_backtest_sized_by_quote_spends_that_amount_on_each_entry(shared_data: Path, events: object) -> None:
    candles = load_candles(shared_data / "BTCUSDT-1h-2017-08-17_2022-12-31.csv")[:3000]
    settings = BacktestSettings(sizing="quote", quote_amount=Decimal("250"))
    simulate_batch(candles, load_strategy("donchian", {}), settings, BTC, events=events)  # type: ignore[arg-type]
    close_at = {int(ts): Decimal(repr(float(c))) for ts, c in zip(candles.ts, candles.close, strict=True)}
    placed = [(ts, f) for t, ts, f in events.events if t == EventType.ORDER_PLACED  # type: ignore[attr-defined]
              and not f["reduce_only"]]
    assert len(placed) > 5
    for ts, f in placed:
        close = close_at[ts - 3_600_000]  # decided at the previous candle's close
        qty = Decimal(str(f["qty"]))
        # 250 USDT at that close, rounded down to the step: within one step of the amount, never above it
        assert qty * close <= Decimal("250") < (qty + BTC.step_size) * close


def test_quote_sizing_needs_a_positive_amount() -> None:
    with pytest.raises(ValueError, match="quote_amount"):
        BacktestSettings(sizing="quote", quote_amount=Decimal(0))
