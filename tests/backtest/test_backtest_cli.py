"""`tradewarden backtest` as a user runs it."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.risk import verify_audit

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["backtest", *args])
    return result.exit_code, result.output


def test_default_backtest_writes_the_whole_run_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, output = run("--out", str(out))
    assert code == 0, output
    assert "donchian" in output and "Sharpe" in output and "summary.html" in output
    for name in ("trades.csv", "equity.csv", "events.jsonl", "summary.json", "summary.html"):
        assert (out / name).stat().st_size > 0, name
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert events[0]["type"] == "RunStarted" and events[-1]["type"] == "RunFinished"
    assert all({"ts", "time", "type"} <= e.keys() for e in events)
    types = {e["type"] for e in events}
    assert {"OrderPlaced", "Fill", "PositionOpened", "PositionClosed", "DataGap"} <= types
    summary = json.loads((out / "summary.json").read_text())
    metrics = summary["metrics"]
    for key in ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor",
                "exposure", "trade_count", "fees_paid"):
        assert "unit" in metrics[key], key
    with (out / "trades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    closed = [r for r in rows if r["exit_reason"] != "end_of_data"]
    assert len(closed) == sum(1 for e in events if e["type"] == "PositionClosed")
    html = (out / "summary.html").read_text()
    assert "<svg" in html and "src=\"http" not in html and "href=\"http" not in html
    assert summary["run"]["config_hash"] and len(summary["run"]["config_hash"]) == 64


def test_strategy_params_dates_and_resampling(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, output = run("--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20", "--from", "2022-01-01",
                       "--to", "2022-07-01", "--timeframe", "4h", "--out", str(out))
    assert code == 0, output
    run_info = json.loads((out / "summary.json").read_text())["run"]
    assert run_info["strategy"] == {"name": "sma_cross", "params": {"fast": 5, "slow": 20}}
    assert run_info["first_candle"] == "2022-01-01T00:00:00Z"
    assert run_info["last_candle"] == "2022-06-30T20:00:00Z"
    assert run_info["timeframe"] == "4h"


def test_bad_candle_row_is_one_clear_line_with_exit_code_2(tmp_path: Path) -> None:
    data = tmp_path / "BTCUSDT-1h-bad.csv"
    data.write_text("timestamp,open,high,low,close,volume\n1609459200000,1,2,0.5,1.5,3\n"
                    "1609462800000,1,0.9,0.5,0.8,3\n")
    code, output = run("--data", str(data), "--out", str(tmp_path / "r"))
    assert code == 2
    assert f"{data}:3: high is below open or close" in output.replace("\n", "")
    assert "Traceback" not in output


def test_config_errors_are_listed_at_once(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[backtest]\nfee_taker_bps = -1\nvolume_fraction = 3\n[market]\ntimeframe = '7h'\n")
    code, output = run("--config", str(cfg))
    assert code == 2
    flat = output.replace("\n", " ")
    for field in ("backtest.fee_taker_bps", "backtest.volume_fraction", "market.timeframe"):
        assert field in flat
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--strategy", "nope"], "unknown strategy"),
        (["--strategy", "sma_cross", "--param", "fast=500"], "outside its range"),
        (["--param", "nonsense"], "="),
        (["--from", "2030-01-01"], "no candles"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    code, output = run(*args, "--out", str(tmp_path / "r"))
    assert code == 2, output
    assert words in output
    assert "Traceback" not in output


CHEATER = '''
import numpy as np
from tradewarden.strategies import Signals, Strategy

class Peek(Strategy):
    name = "peek"

    @property
    def lookback(self):
        return 2

    def signals(self, candles):
        c = np.asarray(candles.close)
        t = np.full(len(c), np.nan)
        t[:-1] = (c[1:] > c[:-1]).astype(float)
        return Signals(t)
'''


def test_a_lookahead_strategy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "peek.py"
    path.write_text(CHEATER)
    code, output = run("--strategy", str(path), "--out", str(tmp_path / "r"))
    assert code == 2
    assert "looks ahead" in output


def test_risk_config_applies_the_gate_and_counts_denials(tmp_path: Path) -> None:
    risk = tmp_path / "risk.toml"
    risk.write_text("risk_per_trade_pct = 1.0\nmax_daily_loss_pct = 1.0\n[breakers.drawdown]\nmax_drawdown_pct = 10\n")
    out = tmp_path / "run"
    code, output = run("--risk-config", str(risk), "--from", "2022-01-01", "--out", str(out))
    assert code == 0, output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["engine_path"] == "per_candle"
    m = summary["metrics"]
    assert m["risk_denials"]["value"] > 0 and m["breaker_trips"]["value"] > 0
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    denied = [e for e in events if e["type"] == "OrderDenied"]
    assert len(denied) == m["risk_denials"]["value"]
    assert verify_audit(out / "audit.jsonl").ok
    # without the risk file the same run has a different config hash
    code, _ = run("--from", "2022-01-01", "--out", str(tmp_path / "plain"))
    plain = json.loads((tmp_path / "plain" / "summary.json").read_text())
    assert plain["run"]["config_hash"] != summary["run"]["config_hash"]
