"""A portfolio stepped through the live aligner's steps trades exactly as ``backtest --symbols``.

This is what a multi-symbol session does: the candles of each symbol arrive on their own stream, in any
interleaving across symbols; :class:`~tradewarden.data.align.BarAligner` makes time steps of them and
:class:`~tradewarden.backtest.portfolio.PortfolioStepper` processes each step in the backtest's order.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tradewarden.backtest.portfolio import Market, PortfolioError, PortfolioStepper, step_order
from tradewarden.backtest.portfolio_fast import simulate_portfolio_batch
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.cli.main import app
from tradewarden.data.align import BarAligner, Step
from tradewarden.data.sources import load_market
from tradewarden.domain.candles import Candle
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.strategies import load_strategy

HOUR = 3_600_000
SYMBOLS = ["BTC/USDT", "ETH/USDT"]


def test_a_step_is_processed_in_the_portfolio_symbol_order_whatever_the_arrival_order() -> None:
    c = Candle(0, 1.0, 1.0, 1.0, 1.0, 1.0)
    d = Candle(0, 2.0, 2.0, 2.0, 2.0, 2.0)
    assert step_order(["A", "B", "C"], {"C": c, "A": d}) == [(0, d), (2, c)]
    with pytest.raises(PortfolioError, match="Z"):
        step_order(["A"], {"Z": c})


class Fills:
    def __init__(self) -> None:
        self.fills: list[tuple[int, str, str, str, str]] = []

    def emit(self, type_: EventType, ts: int, **fields: Any) -> None:
        if type_ is EventType.FILL:
            self.fills.append((ts, str(fields["client_id"]), str(fields["symbol"]), format(fields["qty"], "f"),
                               format(fields["price"], "f")))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_aligned_live_steps_give_the_orders_fills_and_equity_of_backtest_symbols(shared_data: Path, tmp_path: Path,
                                                                                 seed: int) -> None:
    # the real files, with ETH/USDT missing a day and a few single bars more than BTC/USDT (delisted for a day)
    data = tmp_path / "data"
    data.mkdir()
    btc = "BTCUSDT-1h-2017-08-17_2022-12-31.csv"
    eth = "ETHUSDT-1h-2017-08-17_2022-07-11.csv"
    (data / btc).symlink_to(shared_data / btc)
    lines = (shared_data / eth).read_text().splitlines(keepends=True)
    gone = {str(1614556800000 + k * HOUR) for k in range(24)} | {str(1619870400000 + k * 97 * HOUR) for k in range(5)}
    (data / eth).write_text("".join(line for line in lines if line.split(",", 1)[0] not in gone))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["backtest", "--symbols", ",".join(SYMBOLS), "--data", str(data),
                                      "--timeframe", "1h", "--from", "2021-01-01", "--to", "2021-07-01",
                                      "--out", str(out)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert all(summary["symbols"][s]["missing_bars"] > 0 for s in SYMBOLS)  # real gaps: steps without a symbol

    def markets() -> list[Market]:
        ms = []
        for sym in SYMBOLS:
            series = load_market(data, sym, "1h").between(1609459200000, 1625097600000)
            strat = summary["run"]["strategy_params"][sym]
            ms.append(Market(series, Instrument.default_spot(sym), load_strategy(strat["name"], strat["params"])))
        return ms

    # the candles as two live streams deliver them: each in order, interleaved at random across the symbols
    ms = markets()
    streams = [[(m.instrument.symbol, m.series.candle(i)) for i in range(len(m.series))] for m in ms]
    rng = random.Random(seed)
    aligner = BarAligner(SYMBOLS, HOUR, grace_ms=5_000)
    steps: list[Step] = []
    while any(streams):
        stream = rng.choice([s for s in streams if s])
        steps += [o for o in aligner.on_candle(*stream.pop(0)) if isinstance(o, Step)]
    steps += [o for o in aligner.on_time(2**62) if isinstance(o, Step)]
    assert aligner.late == {"BTC/USDT": 0, "ETH/USDT": 0}
    assert aligner.missing == {"BTC/USDT": 0, "ETH/USDT": 29}  # steps that went ahead without ETH/USDT

    events = Fills()
    stepper = PortfolioStepper(ms, BacktestSettings(), events)
    equity = np.array([stepper.step(s.ts, s.bars) for s in steps], dtype=np.int64)
    live = stepper.simulation("per_candle", np.array([s.ts for s in steps], dtype=np.int64), equity)

    batch = simulate_portfolio_batch(markets(), BacktestSettings(), keep_records=True)
    assert np.array_equal(live.ts, batch.ts)
    assert np.array_equal(live.equity_units, batch.equity_units)
    for a, b in zip(live.symbols, batch.symbols, strict=True):
        assert a.orders == b.orders and a.fills == b.fills and a.trades == b.trades and a.open_trade == b.open_trade
    # and what the CLI wrote: every fill, in order, and the equity curve
    journal = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    written = [(e["ts"], e["client_id"], e["symbol"], e["qty"], e["price"]) for e in journal if e["type"] == "Fill"]
    assert events.fills == written and len(written) > 20
    curve = np.loadtxt(out / "equity.csv", delimiter=",", skiprows=1, usecols=(0,)).astype(np.int64)
    assert np.array_equal(curve, live.ts)
    assert Decimal(summary["portfolio"]["final_equity"]) == live.unit * int(live.equity_units[-1])
