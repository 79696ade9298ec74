"""Engine.prepare loads the strategy's and the decision's compiled code before trading and changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradewarden.backtest.settings import BacktestSettings
from tradewarden.data import load_candles
from tradewarden.data.sample import sample_1m_path
from tradewarden.domain.candles import CandleSeries
from tradewarden.domain.instrument import Instrument
from tradewarden.engine.engine import Engine
from tradewarden.strategies import load_strategy
from tradewarden.strategies.base import Signals
from tradewarden.venues.simulated import SimulatedVenue

from ..conftest import MemoryEvents


def engine_after_warm_up(strategy_name: str, events: MemoryEvents, bars: int = 200) -> Engine:
    candles = load_candles(sample_1m_path())[:bars]
    inst = Instrument.default_spot("BTC/USDT")
    settings = BacktestSettings(sizing="fixed", fixed_qty=Decimal("0.01"))
    strategy = load_strategy(strategy_name, {"period": 2, "oversold": 49, "overbought": 51})
    venue = SimulatedVenue(inst, settings.fill, settings.initial_cash)
    engine = Engine(strategy, inst, venue, events, settings.engine_settings(), settings.initial_cash, "1m")
    engine.warm_up([candles.candle(i) for i in range(len(candles))])
    return engine


@pytest.mark.parametrize("bars", [200, 0], ids=["on the history", "before any history"])
def test_prepare_decides_nothing_and_changes_nothing(events: MemoryEvents, bars: int) -> None:
    engine = engine_after_warm_up("rsi", events, bars)
    before = engine.snapshot()
    engine.prepare()
    assert engine.snapshot() == before
    assert engine.orders == {} and engine.orders_placed == 0
    assert events.events == []
    assert engine.venue.poll() == []


def test_a_strategy_failing_in_prepare_fails_on_the_first_candle_instead(events: MemoryEvents) -> None:
    engine = engine_after_warm_up("rsi", events)

    def broken(_candles: CandleSeries) -> Signals:
        raise ValueError("strategy bug")

    engine.strategy.signals = broken  # type: ignore[method-assign]
    engine.prepare()  # an optimisation only: the session still starts
    candles = load_candles(sample_1m_path())
    with pytest.raises(ValueError, match="strategy bug"):
        engine.on_candle(candles.candle(200))
