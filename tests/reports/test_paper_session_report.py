"""End to end: a paper session against the built-in simulator (through ccxt, in a subprocess), then
`report daily` on what it recorded. The report reads the database; its numbers are checked against the
session's own events.jsonl, a separate record written as the session traded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app

pytestmark = pytest.mark.slow


def events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def day(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d")


def test_daily_report_of_a_paper_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    runs = tmp_path / "runs"
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[backtest]\nout_dir = "{runs}"\n'
                   '[strategy]\nname = "sma_cross"\n[strategy.params]\nfast = 3\nslow = 8\n'
                   '[market]\ntimeframe = "1m"\n'
                   '[runtime]\nsim_speed = 3000\nsim_fire_drill = false\nwarmup_bars = 30\nheartbeat_s = 1\n')
    log = (tmp_path / "bot.log").open("wb")
    bot = subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main", "run", "--mode", "paper", "--config",
                            str(cfg)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 240
        def enough() -> bool:   # four closed trades and three heartbeats (one a second)
            seen = [e["type"] for f in runs.glob("*/events.jsonl") for e in events(f)]
            return seen.count("PositionClosed") >= 4 and seen.count("Heartbeat") >= 3

        while not enough():
            assert bot.poll() is None, f"the bot exited ({bot.returncode}) before 4 trades and 3 heartbeats"
            assert time.monotonic() < end, "no 4 closed trades and 3 heartbeats within 240 s"
            time.sleep(0.2)
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.wait(timeout=120)
    (run_dir,) = [p for p in runs.iterdir() if not p.is_symlink()]  # runs/latest links to it
    recorded = events(run_dir / "events.jsonl")
    closed = [e for e in recorded if e["type"] == "PositionClosed"]
    trading_day = day(closed[0]["ts"])   # the simulator's market time: the session trades in 2024

    for name in [k for k in os.environ if k.startswith("TRADEWARDEN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    result = CliRunner().invoke(app, ["report", "daily", "--config", str(cfg), "--date", trading_day])
    assert result.exit_code == 0, result.output
    md = tmp_path / "data" / "reports" / f"daily_{trading_day}.md"
    rows = dict(line.strip("|").split(" | ", 1) for line in md.read_text().splitlines()
                if line.startswith("| ") and " | " in line)
    rows = {k.strip(): v.strip(" |") for k, v in rows.items()}
    on_day = [e for e in closed if day(e["ts"]) == trading_day]
    fills = [e for e in recorded if e["type"] == "Fill" and day(e["ts"]) == trading_day]
    assert rows["trades closed"] == str(len(on_day))
    assert Decimal(rows["realised PnL (net of fees)"]) == sum(Decimal(e["pnl"]) for e in on_day)
    assert rows["fills"] == str(len(fills))
    assert Decimal(rows["fees"]) == sum(Decimal(e["fee"]) for e in fills)
    wins = sum(Decimal(e["pnl"]) > 0 for e in on_day)
    assert rows["win rate"] == f"{(Decimal(wins) * 100 / len(on_day)).quantize(Decimal('0.01'))}%"
    assert rows["fills missing from the audit trail"] == "0"   # every order was approved in the account's trail

    # the wall-clock day the session ran: its heartbeats are its uptime, its reconnects are counted
    started = next(e for e in recorded if e["type"] == "RunStarted")
    result = CliRunner().invoke(app, ["report", "daily", "--config", str(cfg), "--date", day(started["ts"])])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "data" / "reports" / f"daily_{day(started['ts'])}.md").read_text()
    uptime = text.split("| uptime | ")[1].split("%")[0]
    assert 0 < Decimal(uptime) <= 100
    reconnects = sum(e["type"] == "FeedReconnected" and day(e["ts"]) == day(started["ts"]) for e in recorded)
    assert f"| reconnects | {reconnects} |" in text
