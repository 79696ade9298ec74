"""A changed parameter file reaches every strategy runner: one symbol's, or each of a portfolio's with its
``strategy.per_symbol`` overrides kept over the file's parameters; all or nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tradewarden.config import load_config
from tradewarden.engine.engine import History
from tradewarden.engine.window import session_history_bars
from tradewarden.node import builder
from tradewarden.optimize.paramsfile import DataRange, ParamsFile, StudyInfo, write_params_file
from tradewarden.strategies import load_strategy
from tradewarden.strategies.base import Strategy

SYMBOLS = ["BTC/USDT", "ETH/USDT"]


def params_file(path: Path, params: dict[str, object]) -> Path:
    t0, t1, t2 = (datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 10, 1, tzinfo=UTC),
                  datetime(2022, 1, 1, tzinfo=UTC))
    write_params_file(path, ParamsFile(
        strategy="sma_cross", params=params, created=t2, version="0.1.0",
        study=StudyInfo(name="s", storage="sqlite:///x.db", trial=7, objective="sharpe", select_by="oos",
                        mode="search", completed_trials=10),
        data=DataRange(source="bundled sample", symbol="BTC/USDT", timeframe="1h", sha256="ab" * 32, bars=8760,
                       start=t0, end=t2, search_start=t0, search_end=t1, holdout_start=t1, holdout_end=t2),
        metrics={"in_sample": {"sharpe": 1.0}, "out_of_sample": {"sharpe": 0.5}}))
    return path


@dataclass
class FakeEngine:
    strategy: Strategy
    history: History


@dataclass
class FakeRunner:
    engine: FakeEngine


@dataclass
class Sink:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def emit(self, type_: str, ts: int, **fields: Any) -> dict[str, Any]:
        self.events.append((type_, fields))
        return fields


@dataclass
class Audit:
    actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def operator_action(self, ts: int, action: str, actor: str, **detail: Any) -> None:
        self.actions.append((action, detail))


def portfolio(tmp_path: Path, file_params: dict[str, object]) -> tuple[Any, dict[str, FakeRunner], Path]:
    path = params_file(tmp_path / "params.json", file_params)
    cfg = load_config(None, {"market.symbols": ",".join(SYMBOLS), "strategy.name": "sma_cross",
                             "strategy.params.fast": "3", "strategy.params.slow": "8",
                             "strategy.per_symbol.ETH/USDT.fast": "5", "strategy.params_file": str(path)}, env={})
    assert cfg.strategy.per_symbol == {"ETH/USDT": {"fast": 5}}
    runners = {}
    for symbol in SYMBOLS:
        history = History(symbol, "1m", max_bars=500)  # as kept for a short lookback
        runners[symbol] = FakeRunner(FakeEngine(builder.load_strategy(cfg, symbol), history))
    return cfg, runners, path


def test_a_portfolio_reloads_every_symbol_and_keeps_its_per_symbol_overrides(tmp_path: Path) -> None:
    cfg, runners, path = portfolio(tmp_path, {"fast": 4, "slow": 12})
    assert {s: dict(r.engine.strategy.params) for s, r in runners.items()} == \
        {"BTC/USDT": {"fast": 4, "slow": 12}, "ETH/USDT": {"fast": 5, "slow": 12}}
    params_file(path, {"fast": 6, "slow": 400})  # a lookback longer than the history kept so far
    sink, audit = Sink(), Audit()
    said = builder.reload_params(cfg, runners, sink, audit, path, lambda: 7,  # type: ignore[arg-type]
                                 per_symbol=True)
    assert said == f"reloaded {path}"
    assert {s: dict(r.engine.strategy.params) for s, r in runners.items()} == \
        {"BTC/USDT": {"fast": 6, "slow": 400}, "ETH/USDT": {"fast": 5, "slow": 400}}
    assert all(r.engine.history.max_bars == session_history_bars(401) for r in runners.values())  # room for it
    assert sink.events == [("ParamsReloaded", {"file": str(path), "params": {"fast": 6, "slow": 400}})]
    assert audit.actions == [("params_reload", {"file": str(path), "params": {"fast": 6, "slow": 400}})]


def test_parameters_one_symbol_refuses_keep_every_running_strategy(tmp_path: Path) -> None:
    cfg, runners, path = portfolio(tmp_path, {"fast": 4, "slow": 12})
    before = {s: r.engine.strategy for s, r in runners.items()}
    params_file(path, {"fast": 2, "slow": 5})  # BTC: fast 2 < slow 5; ETH keeps fast 5, not below slow 5
    sink, audit = Sink(), Audit()
    said = builder.reload_params(cfg, runners, sink, audit, path, lambda: 7,  # type: ignore[arg-type]
                                 per_symbol=True)
    assert said == "kept the running parameters: ETH/USDT: strategy sma_cross: fast (5) must be shorter than slow (5)"
    assert {s: r.engine.strategy for s, r in runners.items()} == before
    assert [t for t, _ in sink.events] == ["ParamsReloadFailed"] and audit.actions == []


def test_one_symbol_reloads_without_per_symbol_overrides_as_it_boots(tmp_path: Path) -> None:
    path = params_file(tmp_path / "params.json", {"fast": 4, "slow": 12})
    cfg = load_config(None, {"strategy.name": "sma_cross", "strategy.params_file": str(path)}, env={})
    runner = FakeRunner(FakeEngine(load_strategy("sma_cross", {"fast": 3, "slow": 8}), History("BTC/USDT", "1m")))
    builder.reload_params(cfg, {"BTC/USDT": runner}, Sink(), Audit(), path, lambda: 7)  # type: ignore[arg-type, dict-item]
    assert dict(runner.engine.strategy.params) == {"fast": 4, "slow": 12}
    assert runner.engine.history.max_bars is None  # an unbounded history stays unbounded


@pytest.mark.slow
def test_a_running_portfolio_session_reloads_a_changed_parameter_file(tmp_path: Path) -> None:
    """End to end: a paper session of two symbols (built-in simulator) sees its parameter file replaced and
    reloads it, where it used to refuse (``ParamsReloadFailed``)."""
    path = params_file(tmp_path / "params.json", {"fast": 3, "slow": 8})
    config = tmp_path / "bot.toml"
    config.write_text(f'[market]\nsymbols = ["BTC/USDT", "ETH/USDT"]\n[strategy]\nname = "sma_cross"\n'
                      f'params_file = "{path}"\n[strategy.per_symbol."ETH/USDT"]\nfast = 4\n'
                      '[runtime]\nsim_speed = 300\nsim_fire_drill = false\nwarmup_bars = 30\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env["TRADEWARDEN_DATA_DIR"] = str(tmp_path / "data")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "tradewarden.cli.main", "run", "--mode", "paper", "--config", str(config),
           "--duration", "10d", "--out", str(out)]
    with (tmp_path / "session.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def types() -> list[str]:
            journal = out / "events.jsonl"
            lines = journal.read_text().splitlines() if journal.exists() else []
            return [json.loads(line)["type"] for line in lines if line.endswith("}")]

        def wait_for(event: str) -> None:
            deadline = time.monotonic() + 120
            while event not in (seen := types()):
                assert "ParamsReloadFailed" not in seen, "the session refused the reload"
                assert proc.poll() is None, (tmp_path / "session.log").read_text()[-3000:]
                assert time.monotonic() < deadline, f"no {event} in {types()}"
                time.sleep(0.2)

        wait_for("WarmUpDone")
        params_file(path, {"fast": 5, "slow": 13})  # an atomic rename: reported at the watcher's next poll
        wait_for("ParamsReloaded")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    evs = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    [reloaded] = [e for e in evs if e["type"] == "ParamsReloaded"]
    assert reloaded["params"] == {"fast": 5, "slow": 13} and reloaded["file"] == str(path)
    assert "ParamsReloadFailed" not in [e["type"] for e in evs]
