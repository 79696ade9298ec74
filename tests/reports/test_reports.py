"""`tradewarden report daily|weekly|period` on a hand-built bot state (tests/reports/conftest.py): every number
against a value computed by hand from that data, the weekly metrics against backtest.metrics, the files 0600
and self-contained, the criteria file validated, the decision as the exit code."""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tradewarden.backtest.metrics import compute_metrics
from tradewarden.cli.main import app
from tradewarden.config import load_config
from tradewarden.reports import daily_report_job


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def table(md: Path) -> dict[str, str]:
    """Every ``| key | value |`` row of a report (keys are unique in these reports)."""
    rows = re.findall(r"^\| ([^|]+?) \| ([^|]*?) \|$", md.read_text(), flags=re.MULTILINE)
    return {k: v for k, v in rows if k.strip()}


def test_daily_report_numbers(recorded: Path) -> None:
    code, out = run("report", "daily", "--config", str(recorded), "--date", "2026-03-10")
    assert code == 0, out
    reports = recorded.parent / "data" / "reports"
    got = table(reports / "daily_2026-03-10.md")
    # trades closed on the day: 12.5, -4.25, 0 (the 50 of the day before and the 100 of the day after are not)
    assert got["realised PnL (net of fees)"] == "8.25"
    assert got["PnL (equity change)"] == "-10"    # 10040 at the day's last bar - 10050 at the bar before it
    assert got["trades closed"] == "3"
    assert got["win rate"] == "33.33%"            # 1 of 3: a zero trade is no win
    # equity at the day's last bar 10040 - the first 10000 - every trade closed by then (50 + 8.25)
    assert got["unrealised PnL"] == "-18.25"
    assert got["fills"] == "6"
    assert got["fees"] == "0.0625"                # 0.01 + 0.0105 + 0.02 + 0.02 + 0.001 + 0.001
    assert got["BTC/USDT"] == "2 trades, 1 won, PnL 8.25, 4 fills, fees 0.0225"
    assert got["ETH/USDT"] == "1 trades, 0 won, PnL 0, 2 fills, fees 0.04"
    assert got["denied: MAX_POSITION_NOTIONAL"] == "2"
    assert got["denied: KILL_SWITCH"] == "1"      # the one before the day and the backtest's are not
    assert "denied: X" not in got
    assert got["breaker trips"] == "1" and got["breaker"] == "daily_loss (global): HALTED"
    assert got["kill-switch activations"] == "1"
    assert got["position-limit breaches"] == "1"  # 20 > 15; 0.15 x 100 = 15 is at the limit, not over
    # tw-ghost; the paper stop belongs to order tw-eth-1, the live one to candle tw-btc-7 (order tw-btc-7-0)
    assert got["fills missing from the audit trail"] == "1"
    assert got["uptime"] == "91.67%"              # 6 h + 16 h of 24 h
    assert got["reconnects"] == "3"
    assert got["candles missed"] == "5"           # 2 symbols of one step + a gap of 3
    assert got["peak memory"] == "321.0 MB"
    assert got["restarts"] == "1"
    incidents = (reports / "daily_2026-03-10.md").read_text().split("## Incidents")[1]
    assert incidents.count("\n| 2026-03-10 ") == 4   # mismatch, halt, resume, trading halted
    assert "RECONCILE_MISMATCH: 2 mismatch(es)" in incidents and "HALTED_OPS: RECONCILE_MISMATCH" in incidents
    assert "TradingStateChanged: breaker daily_loss" in incidents
    for f in reports.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    page = (reports / "daily_2026-03-10.html").read_text()
    assert "<td>91.67%</td>" in page and "http" not in page.replace("http-equiv", "")


def test_daily_report_defaults_to_the_latest_day_with_data(recorded: Path) -> None:
    code, out = run("report", "daily", "--config", str(recorded))
    assert code == 0, out
    got = table(recorded.parent / "data" / "reports" / "daily_2026-03-11.md")   # heartbeats until D+25h
    assert got["trades closed"] == "1" and got["realised PnL (net of fees)"] == "100"
    assert got["reconnects"] == "1"


def test_weekly_report_metrics_are_the_backtests(recorded: Path) -> None:
    code, out = run("report", "weekly", "--config", str(recorded), "--week", "2026-W11")
    assert code == 0, out
    got = table(recorded.parent / "data" / "reports" / "weekly_2026-W11.md")
    eq = np.array([10000, 10050, 10062.5, 10040, 10170], dtype=np.float64)
    d, h = int(datetime(2026, 3, 10, tzinfo=UTC).timestamp() * 1000), 3_600_000
    ts = np.array([d - 2 * h, d - h, d + h, d + 23 * h, d + 25 * h], dtype=np.int64)
    m = compute_metrics(ts, eq, [], Decimal(0), 0, 3_600_000, Decimal(10000))
    assert got["Sharpe"] == str(m["sharpe"]["value"])
    assert got["max drawdown"] == f"{m['max_drawdown']['value']}%"
    assert abs(m["max_drawdown"]["value"] - (1 - 10040 / 10062.5) * 100) < 1e-5   # the dip, by hand
    assert got["best trade"] == "BTC/USDT 100" and got["worst trade"] == "BTC/USDT -4.25"
    assert got["trades closed"] == "5" and got["realised PnL (net of fees)"] == "158.25"
    assert got["PnL (equity change)"] == "170"    # the week holds every bar: 10170 - 10000
    assert "<svg" in (recorded.parent / "data" / "reports" / "weekly_2026-W11.html").read_text()


def test_bad_week_and_date_exit_2(recorded: Path) -> None:
    code, out = run("report", "weekly", "--config", str(recorded), "--week", "2026-11")
    assert code == 2 and "--week '2026-11' is not an ISO week" in out
    code, out = run("report", "daily", "--config", str(recorded), "--date", "10.3.2026")
    assert code == 2 and "--date '10.3.2026' is not a date" in out


def test_period_decision_is_the_exit_code(recorded: Path, tmp_path: Path) -> None:
    day = ("report", "period", "--config", str(recorded), "--from", "2026-03-10", "--to", "2026-03-10")
    code, out = run(*day)   # the defaults: uptime 91.67 % < 95 and a position-limit breach are safety failures
    assert code == 5, out
    assert "decision: NO-GO (decided by: uptime, position-limit breaches, fills missing from the audit trail)" in out
    relaxed = tmp_path / "relaxed.toml"
    relaxed.write_text("[criteria]\nuptime_pct_min = 90\nposition_limit_breaches_max = 1\nunaudited_trades_max = 1\n")
    code, out = run(*day, "--criteria", str(relaxed))
    assert code == 4, out   # performance: PnL -10 (10040 - 10050), win rate 33.33 %, Sharpe < 0.5 (a dip)
    assert "decision: CONTINUE (decided by: PnL, Sharpe, win rate)" in out
    go = tmp_path / "go.toml"
    go.write_text(relaxed.read_text() + "pnl_above = false\nsharpe_min = false\nwin_rate_pct_min = 30\n")
    code, out = run(*day, "--criteria", str(go))
    assert code == 0, out
    assert "decision: GO" in out and "peak memory < 500 MB: 321.0 MB (met)" in out
    text = (recorded.parent / "data" / "reports" / "period_2026-03-10_2026-03-10.md").read_text()
    assert "Decision: GO" in text


def test_criteria_file_errors_name_the_key(recorded: Path, tmp_path: Path) -> None:
    day = ("report", "period", "--config", str(recorded), "--from", "2026-03-10", "--to", "2026-03-10")
    cases = {"[criteria]\nuptime_min = 95\n": "criteria.uptime_min",
             "[criteria]\nsharpe_min = \"high\"\n": "criteria.sharpe_min",
             "[criteria]\nwin_rate_pct_min = true\n": "criteria.win_rate_pct_min: true is not a limit",
             "[limits]\nx = 1\n": "unknown table or key 'limits'",
             "[criteria\n": "not valid TOML"}
    for n, (text, named) in enumerate(cases.items()):
        bad = tmp_path / f"bad{n}.toml"
        bad.write_text(text)
        code, out = run(*day, "--criteria", str(bad))
        assert code == 2, (text, out)
        assert named in " ".join(out.split()), (text, out)
        assert "Traceback" not in out


def test_daily_job_writes_yesterday_and_on_the_weekly_day_the_week(recorded: Path) -> None:
    cfg = load_config(recorded, {"reports.weekly_day": "mon"}, env={})
    tuesday = daily_report_job(cfg, datetime(2026, 3, 11, 0, 5, tzinfo=UTC))
    assert [p.name for p in tuesday.files] == ["daily_2026-03-10.md", "daily_2026-03-10.html"]
    assert tuesday.summary == ("daily report 2026-03-10: PnL -10 (realised 8.25), 3 trades, win rate 33.33%, "
                               "fees 0.0625; uptime 91.67%, 3 reconnects, 1 kill-switch activations, 4 incidents")
    monday = daily_report_job(cfg, datetime(2026, 3, 16, 0, 5, tzinfo=UTC))
    assert [p.name for p in monday.files] == ["daily_2026-03-15.md", "daily_2026-03-15.html",
                                              "weekly_2026-W11.md", "weekly_2026-W11.html"]
    off = load_config(recorded, {"reports.weekly_day": "off"}, env={})
    assert len(daily_report_job(off, datetime(2026, 3, 16, 0, 5, tzinfo=UTC)).files) == 2


def test_a_damaged_event_line_is_named_and_a_line_being_written_is_skipped(recorded: Path) -> None:
    events = recorded.parent / "runs" / "r2" / "events.jsonl"
    events.write_text(events.read_text() + '{"ts": 1, "type": "Heart')   # the bot is writing it right now
    code, out = run("report", "daily", "--config", str(recorded), "--date", "2026-03-10")
    assert code == 0, out
    lines = events.read_text().splitlines()
    events.write_text("\n".join([*lines[:5], "{not json", *lines[5:]]) + "\n")
    code, out = run("report", "daily", "--config", str(recorded), "--date", "2026-03-10")
    assert code == 2, out
    assert f"{events} line 6: not a JSON event" in " ".join(out.split())
    assert "Traceback" not in out


def test_nothing_recorded_and_an_unreachable_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[backtest]\nout_dir = "{tmp_path / "runs"}"\n')
    code, out = run("report", "daily", "--config", str(cfg))
    assert code == 0 and "no data recorded yet" in out
    code, out = run("report", "daily", "--config", str(cfg), "--db-url", "postgresql://nobody@127.0.0.1:1/none")
    assert code == 1 and "Traceback" not in out, out


def test_runs_latest_is_not_a_second_run(recorded: Path) -> None:
    """A running bot links ``runs/latest`` to its newest run: the reports count that run once (they counted it
    twice, so a session's uptime came out above 100 %)."""
    runs = recorded.parent / "runs"
    newest = sorted(p for p in runs.iterdir() if p.is_dir())[-1]
    (runs / "latest").symlink_to(newest.name, target_is_directory=True)
    code, out = run("report", "daily", "--config", str(recorded), "--date", "2026-03-10")
    assert code == 0, out
    got = table(recorded.parent / "data" / "reports" / "daily_2026-03-10.md")
    assert got["uptime"] == "91.67%" and got["reconnects"] == "3" and got["restarts"] == "1"
