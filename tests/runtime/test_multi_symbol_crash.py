"""A paper session of several symbols killed with SIGKILL at random moments and restarted each time ends with
exactly the orders, fills, balances and reports of an uninterrupted run of the same candles; a SIGTERM stops it
gracefully between steps."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tradewarden.persistence import Database
from tradewarden.persistence.runtime_store import RuntimeStore

pytestmark = pytest.mark.slow

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
ARGS = ["--mode", "paper", "--duration", "5h", "--symbols", ",".join(SYMBOLS), "--set", "runtime.sim_speed=1500",
        "--set", "runtime.sim_fire_drill=false",
        "--set", "strategy.name=sma_cross", "--set", "strategy.params.fast=3", "--set", "strategy.params.slow=8",
        "--set", "runtime.warmup_bars=30"]
ACCOUNT = f"paper:simulator:{','.join(SYMBOLS)}:sma_cross"


def command(data_dir: Path, out: Path) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env["TRADEWARDEN_DATA_DIR"] = str(data_dir)
    return [sys.executable, "-m", "tradewarden.cli.main", "run", *ARGS, "--out", str(out)], env


def final_state(data_dir: Path) -> tuple[list[tuple[str, ...]], list[tuple[object, ...]], dict[str, object]]:
    with Database.open(None, data_dir) as db:
        state = RuntimeStore(db, ACCOUNT).load()
    orders = sorted((o.client_id, o.symbol, o.side.value, str(o.qty), o.status.value) for o in state.orders)
    fills = [(f.ts, f.client_id, f.symbol, f.side.value, f.qty, f.price, f.fee, f.reason) for f in state.fills]
    return orders, fills, dict(state.balances)


def events(run_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_kill_and_restart_of_two_symbols_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    cmd, env = command(tmp_path / "clean", tmp_path / "clean-run")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = final_state(tmp_path / "clean")
    assert {f[2] for f in expected[1]} == set(SYMBOLS), "a symbol made no fills: the test would prove little"

    rng = random.Random(11)
    kills = 0
    for attempt in range(6):
        cmd, env = command(tmp_path / "crashy", tmp_path / f"crashy-run-{attempt}")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(4.0, 9.0))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    cmd, env = command(tmp_path / "crashy", tmp_path / "crashy-final")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert kills >= 2
    assert final_state(tmp_path / "crashy") == expected

    # the last run reports on the whole session, exactly as the uninterrupted run does: the portfolio's equity
    # per step, the trades of every symbol, the metrics and each symbol's block
    clean, final = tmp_path / "clean-run", tmp_path / "crashy-final"
    for name in ("equity.csv", "trades.csv"):
        assert (final / name).read_text() == (clean / name).read_text(), name
    summary = {run: json.loads((run / "summary.json").read_text()) for run in (clean, final)}
    assert summary[final]["metrics"] == summary[clean]["metrics"]
    assert summary[final]["portfolio"] == summary[clean]["portfolio"]
    assert summary[final]["symbols"] == summary[clean]["symbols"]
    assert summary[final]["run"]["candles"] == summary[clean]["run"]["candles"]
    finished = [e for e in events(final) if e["type"] == "RunFinished"]
    assert len(finished) == 1
    assert finished[0]["trades"] == sum(summary[clean]["symbols"][s]["trades"] for s in SYMBOLS)
    assert finished[0]["trades"] == summary[clean]["metrics"]["trade_count"]["value"]


def test_sigterm_stops_a_session_of_two_symbols_gracefully(tmp_path: Path) -> None:
    cmd, env = command(tmp_path / "data", tmp_path / "run")
    cmd[cmd.index("5h")] = "24h"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "run" / "events.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # stopped once it trades, mid-session
        if log.exists() and '"type":"Fill"' in log.read_text():
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    finished = [e for e in events(tmp_path / "run") if e["type"] == "RunFinished"]
    assert [e["reason"] for e in finished] == ["signal SIGTERM"]
    assert (tmp_path / "run" / "summary.json").exists()
