"""A session's engine holds only the newest bars, equity marks, fills and trades; a backtest's holds all."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tradewarden.backtest.settings import BacktestSettings
from tradewarden.data import load_candles
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.ports import EventSink
from tradewarden.engine.engine import Engine
from tradewarden.strategies import load_strategy
from tradewarden.venues.simulated import SimulatedVenue

KEEP = 32


def engine(window: int | None, events: EventSink) -> Engine:
    settings = BacktestSettings(sizing="fixed", fixed_qty=Decimal("0.01"))
    inst = Instrument.default_spot("BTC/USDT")
    # RSI on a narrow band trades every few bars: many more fills and trades than the window holds
    strategy = load_strategy("rsi", {"period": 2, "oversold": 45, "overbought": 55})
    return Engine(strategy, inst, SimulatedVenue(inst, settings.fill, settings.initial_cash), events,
                  settings.engine_settings(), settings.initial_cash, "1m", keep_history=False, window=window)


def test_a_windowed_engine_stays_bounded_and_holds_the_newest_exactly(shared_data: Path, events: EventSink) -> None:
    candles = load_candles(shared_data / "BTCUSDT-1m-2021-04-20_2021-05-20.csv")[:3000]
    bounded, whole = engine(KEEP, events), engine(None, events)
    for i in range(len(candles)):
        bounded.on_candle(candles.candle(i))
        whole.on_candle(candles.candle(i))
        bounded.drain_changes()
        whole.drain_changes()
    windows = (bounded.candle_ts, bounded.candle_close, bounded.equity_atoms, bounded.fills, bounded.trades.trades)
    fulls = (whole.candle_ts, whole.candle_close, whole.equity_atoms, whole.fills, whole.trades.trades)
    assert len(whole.trades.trades) > 4 * KEEP and len(whole.fills) > 4 * KEEP  # the windows did drop items
    for w, full in zip(windows, fulls, strict=True):
        assert full.complete and len(full.kept()) == len(full)
        assert len(w) == len(full) and not w.complete and len(w.kept()) < 2 * KEEP
        assert w.kept() == full.kept()[w.start:]
    # the account does not depend on what is held
    assert (bounded.cash_atoms, bounded.pos_steps, bounded.fees_atoms) == (whole.cash_atoms, whole.pos_steps,
                                                                           whole.fees_atoms)
