"""A paper session killed with SIGKILL at random moments and restarted each time ends with exactly the orders,
fills and balances of an uninterrupted run, reports on the whole session as that run does, and its recording
replays to the session's orders."""

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
from tradewarden.runtime.replay import replay_recording

pytestmark = pytest.mark.slow

ARGS = ["--mode", "paper", "--duration", "5h", "--set", "runtime.sim_speed=1500",
        "--set", "runtime.sim_fire_drill=false",
        "--set", "strategy.name=sma_cross", "--set", "strategy.params.fast=3", "--set", "strategy.params.slow=8",
        "--set", "runtime.warmup_bars=30"]
ACCOUNT = "paper:simulator:BTC/USDT:sma_cross"


def command(data_dir: Path, out: Path) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env["TRADEWARDEN_DATA_DIR"] = str(data_dir)
    return [sys.executable, "-m", "tradewarden.cli.main", "run", *ARGS, "--out", str(out)], env


def final_state(data_dir: Path) -> tuple[list[tuple[str, str, str, str]], list[tuple[object, ...]], dict[str, object]]:
    with Database.open(None, data_dir) as db:
        state = RuntimeStore(db, ACCOUNT).load()
    orders = sorted((o.client_id, o.side.value, str(o.qty), o.status.value) for o in state.orders)
    fills = [(f.ts, f.client_id, f.side.value, f.qty, f.price, f.fee, f.reason) for f in state.fills]
    return orders, fills, dict(state.balances)


def test_kill_and_restart_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    cmd, env = command(tmp_path / "clean", tmp_path / "clean-run")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = final_state(tmp_path / "clean")
    assert expected[1], "the uninterrupted run made no fills: the test would prove nothing"

    rng = random.Random(7)
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

    # the last run reports on the whole session, exactly as the uninterrupted run does
    clean, final = tmp_path / "clean-run", tmp_path / "crashy-final"
    for name in ("equity.csv", "trades.csv"):
        assert (final / name).read_text() == (clean / name).read_text(), name
    summary = {run: json.loads((run / "summary.json").read_text()) for run in (clean, final)}
    assert summary[final]["metrics"] == summary[clean]["metrics"]
    assert summary[final]["run"]["candles"] == summary[clean]["run"]["candles"]
    finished = [json.loads(line) for line in (final / "events.jsonl").read_text().splitlines()
                if '"RunFinished"' in line]
    assert len(finished) == 1 and finished[0]["trades"] == summary[clean]["metrics"]["trade_count"]["value"]

    # its recording holds the whole session: replayed, it places the orders of the session
    replayed = replay_recording(final / "recording.jsonl", tmp_path / "replay")
    assert orders_placed(replayed.run_dir) == orders_placed(clean)
    assert {client_id for client_id, _, _ in orders_placed(clean)} <= {o[0] for o in expected[0]}


def orders_placed(run_dir: Path) -> list[tuple[str, str, str]]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    placed = [(e["client_id"], e["side"], e["qty"]) for e in events if e["type"] == "OrderPlaced"]
    assert placed, f"{run_dir}: no orders placed, nothing to compare"
    return placed
