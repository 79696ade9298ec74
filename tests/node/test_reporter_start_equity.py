"""A session's reports measure its return from the session's own starting equity (the first equity it
recorded), not from ``backtest.initial_cash``: a paper account resumed or funded otherwise starts elsewhere."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tests.conftest import MemoryEvents

from tradewarden.config import load_config
from tradewarden.domain.candles import Candle
from tradewarden.domain.instrument import Instrument
from tradewarden.engine.engine import Engine, EngineSettings
from tradewarden.node.reporter import Reporter
from tradewarden.node.runner import StrategyRunner
from tradewarden.risk import RiskConfig, RiskManager
from tradewarden.strategies import load_strategy
from tradewarden.venues.params import FillSettings
from tradewarden.venues.simulated import SimulatedVenue

BTC = Instrument.default_spot("BTC/USDT")
ACCOUNT = Decimal(2_500)  # what the paper account holds at boot


def clock() -> int:
    return 1_700_000_000_000


def trending() -> list[Candle]:
    """Down, up, down: the moving averages cross upwards (a buy), then downwards (its sale)."""
    closes = [200.0 - 2 * i for i in range(25)] + [150.0 + 3 * i for i in range(30)] + \
        [240.0 - 3 * i for i in range(25)]
    return [Candle(ts=i * 3_600_000, open=c, high=c + 1, low=c - 1, close=c, volume=50.0)
            for i, c in enumerate(closes)]


def test_the_return_is_measured_from_the_sessions_own_starting_equity(tmp_path: Path, events: MemoryEvents) -> None:
    cfg = load_config(None, {}, env={})
    assert cfg.backtest.initial_cash != ACCOUNT  # the setting a live or resumed session must not use
    risk = RiskManager(RiskConfig.model_validate({"check_balance": False, "max_price_deviation_pct": None}), events)
    venue = SimulatedVenue(BTC, FillSettings(), ACCOUNT)
    engine = Engine(load_strategy("sma_cross", {"fast": 3, "slow": 8}), BTC, venue, events, EngineSettings(),
                    ACCOUNT, "1h", keep_history=False)
    run = StrategyRunner(engine, venue, risk)
    bars = trending()
    run.engine.warm_up(bars[:10])
    for c in bars[10:]:
        run.step(c, True)
    assert run.engine.trades.trades, "the session bought and sold"
    Reporter(tmp_path, "paper", "abc", "1h", events, clock).finish(run, 70, "market data ended", 0)
    metrics = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    final = engine.instrument.from_atoms(engine.equity_atoms[-1])
    assert final != ACCOUNT
    assert Decimal(metrics["initial_cash"]["exact"]) == ACCOUNT
    assert abs(metrics["final_equity"]["value"] - float(final)) < 1e-6
    expected = float((final / ACCOUNT - 1) * 100)
    assert abs(metrics["total_return"]["value"] - expected) < 1e-4, (metrics["total_return"], expected)
