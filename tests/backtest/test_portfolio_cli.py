"""`tradewarden backtest --symbols ...`: a portfolio on one account, end to end on the real data."""

import csv
import json
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tradewarden.backtest.portfolio import Market
from tradewarden.backtest.portfolio_fast import simulate_portfolio_batch
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.cli.main import app
from tradewarden.data.sources import load_market
from tradewarden.domain.instrument import Instrument
from tradewarden.strategies import load_strategy

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["backtest", *args], env={"COLUMNS": "160"})
    return result.exit_code, result.output


@pytest.mark.slow
def test_portfolio_backtest_of_btc_and_eth_writes_the_portfolio_and_each_symbol(shared_data: Path,
                                                                               tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, output = run("--symbols", "BTC/USDT,ETH/USDT", "--data", str(shared_data), "--timeframe", "1h",
                       "--from", "2021-01-01", "--to", "2022-01-01",
                       "--set", "strategy.per_symbol.ETH/USDT.entry_period=30",
                       "--set", "backtest.equity_fraction=0.5", "--out", str(out))
    assert code == 0, output
    assert "portfolio BTC/USDT,ETH/USDT" in output and "per symbol" in output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["portfolio"]["symbols"] == ["BTC/USDT", "ETH/USDT"]
    assert set(summary["symbols"]) == {"BTC/USDT", "ETH/USDT"}
    assert summary["run"]["strategy_params"]["ETH/USDT"]["params"]["entry_period"] == 30
    with (out / "trades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    by_symbol = {s: [r for r in rows if r["symbol"] == s] for s in ("BTC/USDT", "ETH/USDT")}
    for sym, block in summary["symbols"].items():
        closed = [r for r in by_symbol[sym] if r["exit_reason"] != "end_of_data"]
        assert block["trades"] == len(closed) > 0
        assert Decimal(block["pnl"]) == sum((Decimal(r["pnl"]) for r in closed), Decimal(0))
    # one cash balance: the portfolio's final equity is that of the same markets run on one account here
    settings = BacktestSettings(equity_fraction=0.5)
    markets = []
    for sym, params in (("BTC/USDT", {}), ("ETH/USDT", {"entry_period": 30})):
        series = load_market(shared_data, sym, "1h").between(1609459200000, 1640995200000)
        markets.append(Market(series, Instrument.default_spot(sym), load_strategy("donchian", params)))
    sim = simulate_portfolio_batch(markets, settings)
    equity = np.loadtxt(out / "equity.csv", delimiter=",", skiprows=1, usecols=(0, 1))
    assert np.array_equal(equity[:, 0].astype(np.int64), sim.ts)
    assert Decimal(summary["portfolio"]["final_equity"]) == sim.unit * int(sim.equity_units[-1])
    html = (out / "summary.html").read_text()
    assert "<h3>BTC/USDT</h3>" in html and "<h3>ETH/USDT</h3>" in html
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert {e.get("symbol") for e in events if e["type"] == "Fill"} == {"BTC/USDT", "ETH/USDT"}


def test_symbols_with_the_bundled_sample_are_refused_clearly(tmp_path: Path) -> None:
    code, output = run("--symbols", "BTC/USDT,ETH/USDT", "--out", str(tmp_path / "run"))
    assert code == 2, output
    assert "ETH/USDT" in output and "Traceback" not in output


def test_symbol_and_symbols_together_are_refused(tmp_path: Path) -> None:
    code, output = run("--symbol", "BTC/USDT", "--symbols", "BTC/USDT,ETH/USDT", "--out", str(tmp_path / "run"))
    assert code == 2, output
    assert "--symbols" in output


def test_one_symbol_in_symbols_is_todays_single_symbol_run(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    code, output = run("--symbols", "BTC/USDT", "--out", str(a))
    assert code == 0, output
    code, output = run("--out", str(b))
    assert code == 0, output
    assert (a / "trades.csv").read_text() == (b / "trades.csv").read_text()
    assert (a / "equity.csv").read_text() == (b / "equity.csv").read_text()
    assert "portfolio" not in json.loads((a / "summary.json").read_text())


@pytest.mark.slow
def test_portfolio_risk_gate_holds_one_position_at_a_time_and_caps_exposure(shared_data: Path,
                                                                           tmp_path: Path) -> None:
    risk = tmp_path / "risk.toml"
    risk.write_text("max_open_positions = 1\nmax_symbol_exposure_pct = 40\ncheck_balance = false\n"
                    "cooldown_after_trade_minutes = 180\n")
    out = tmp_path / "run"
    code, output = run("--symbols", "BTC/USDT,ETH/USDT", "--data", str(shared_data), "--timeframe", "1h",
                       "--from", "2021-01-01", "--to", "2021-07-01", "--risk-config", str(risk), "--out", str(out))
    assert code == 0, output
    assert "per_candle path" in output
    with (out / "trades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["symbol"] for r in rows} == {"BTC/USDT", "ETH/USDT"}
    spans = sorted((int(r["entry_ts"]), int(r["exit_ts"]), r["symbol"]) for r in rows)
    for (_, exit_a, _), (entry_b, _, _) in pairwise(spans):
        assert entry_b >= exit_a  # never two positions at once, across the symbols
    for sym in ("BTC/USDT", "ETH/USDT"):  # a symbol rests three hours after each of its trades
        mine = [s for s in spans if s[2] == sym]
        assert all(b[0] - a[1] >= 3 * 3_600_000 for a, b in pairwise(mine))
    equity = np.loadtxt(out / "equity.csv", delimiter=",", skiprows=1, usecols=1)
    for r in rows:  # each entry is at most 40 % of the equity then (the decision's close, one bar before)
        assert Decimal(r["qty"]) * Decimal(r["entry_price"]) <= Decimal("0.41") * Decimal(str(equity.max()))
    summary = json.loads((out / "summary.json").read_text())
    denials = summary["metrics"]["risk_denials"]["by_reason"]
    assert denials.get("MAX_OPEN_POSITIONS", 0) > 0 and denials.get("COOLDOWN", 0) > 0
