"""A paper session on the built-in simulator with a tiny re-optimization schedule: the optimizer really runs in
a child process on the candles the session recorded, the session goes on trading meanwhile, and the outcome is
an event, applied to the parameter file (and reloaded) or not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import params_file

from tradewarden.optimize.paramsfile import load_params_file

pytestmark = pytest.mark.slow


def events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def test_a_paper_session_reoptimizes_in_a_child_process_and_says_how_it_went(tmp_path: Path) -> None:
    live = params_file(tmp_path / "live.json", 3, 8)
    run = tmp_path / "run"
    args = ["run", "--mode", "paper", "--duration", "10d", "--out", str(run),
            "--set", "runtime.sim_speed=300", "--set", "runtime.sim_fire_drill=false",
            "--set", "runtime.heartbeat_s=0.5", "--set", "runtime.warmup_bars=300",
            "--set", "strategy.name=sma_cross", "--set", f"strategy.params_file={live}",
            "--set", "market.timeframe=5m",
            "--set", "reoptimize.every_days=0.0002",  # 17 s
            # the sampler is unseeded: with 3 trials all three were once pruned (fast >= slow) and the run
            # "failed"; 12 make that vanishingly rare and still take about a second
            "--set", "reoptimize.trials=12"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_")}
    env["TRADEWARDEN_DATA_DIR"] = str(tmp_path / "data")
    with (tmp_path / "session.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main", *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        done: list[dict[str, Any]] = []
        while not done and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            done = [e for e in events(run) if e["type"] == "ParamsReoptimized"]
        assert done, f"no ParamsReoptimized (exit {proc.poll()}):\n{(tmp_path / 'session.log').read_text()[-3000:]}"
        if done[0]["outcome"] == "applied":  # the parameter watch reloads what was applied
            while time.monotonic() < deadline and not [e for e in events(run) if e["type"] == "ParamsReloaded"]:
                time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    first = done[0]
    assert first["outcome"] in ("applied", "kept"), first
    assert "recorded by this session" in first["data"] and first["margin"] == 0.1
    assert isinstance(first["current_sharpe"], float) and isinstance(first["new_sharpe"], float)
    assert first["current_params"] == {"fast": 3, "slow": 8}
    work = Path(first["report"])
    assert (work / "gate.jsonl").is_file() and (work / "optimize.log").is_file()
    assert "trials" in (work / "optimize.log").read_text()  # what the child printed
    evs = events(run)
    reloaded = [e for e in evs if e["type"] == "ParamsReloaded"]
    if first["outcome"] == "applied":
        assert load_params_file(live).params == first["new_params"]
        assert reloaded and reloaded[0]["params"] == first["new_params"]
    else:
        assert not reloaded
    # the session went on receiving candles while the child optimized (its folder is named by its start)
    started = int(datetime.strptime(work.name, "%Y%m%dT%H%M%S").replace(tzinfo=UTC).timestamp() * 1000)
    beats = [e["candles_received"] for e in evs if e["type"] == "Heartbeat" and started <= e["ts"] <= first["ts"]]
    assert len(beats) >= 2 and beats[-1] > beats[0], beats
