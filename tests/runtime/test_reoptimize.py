"""Scheduled re-optimization: the decision, the data it runs on, the job with a fake optimizer process, the real
child process's kill and timeout, and the job's place on the session's scheduler."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import MemoryEvents, params_file

from tradewarden.config import ConfigError, load_config
from tradewarden.config.models import AppConfig
from tradewarden.domain.candles import Candle
from tradewarden.node import builder
from tradewarden.optimize.paramsfile import load_params_file
from tradewarden.runtime.recording import Recorder
from tradewarden.runtime.reoptimize import (
    JOB_ID,
    ChildProcess,
    ReoptimizeError,
    Reoptimizer,
    choose_data,
    decide,
)

DAY_MS = 86_400_000
NOW = datetime(2024, 4, 10, tzinfo=UTC)


def gate(current: float, new: float, **extra: Any) -> dict[str, Any]:
    return {"decision": "apply", "current_oos_sharpe": current, "new_oos_sharpe": new, "required": 0.0,
            "current_params": {"fast": 3, "slow": 8}, "new_params": {"fast": 5, "slow": 20}, "study": "s", **extra}


def config(tmp_path: Path, **settings: Any) -> AppConfig:
    live = tmp_path / "live.json"
    if not live.exists():
        params_file(live, 3, 8)
    return load_config(None, {"data_dir": str(tmp_path / "data"), "strategy.name": "sma_cross",
                              "strategy.params_file": str(live), "market.timeframe": "5m",
                              "reoptimize.every_days": "1", "reoptimize.trials": "4", **settings}, env={})


# -- the decision ------------------------------------------------------------------------------------------
def test_the_decision_is_the_gates_rule_with_the_sessions_margin() -> None:
    assert decide(gate(1.0, 1.2), 0.10, live_changed=False).outcome == "applied"
    assert decide(gate(1.0, 1.1), 0.10, live_changed=False).outcome == "applied"  # the margin itself passes
    # the record says "apply" but this session's margin is larger: kept
    kept = decide(gate(1.0, 1.2), 0.50, live_changed=False)
    assert kept.outcome == "kept" and "does not beat" in kept.reason
    degrade = decide({**gate(1.0, 0.5), "decision": "keep"}, 0.10, live_changed=False)
    assert degrade.outcome == "kept" and "degrade" in degrade.reason


def test_an_operators_edit_meanwhile_wins_and_a_bad_result_fails() -> None:
    edited = decide(gate(1.0, 2.0), 0.10, live_changed=True)
    assert edited.outcome == "kept" and "changed while the optimizer ran" in edited.reason
    assert decide(gate(1.0, 2.0), 0.10, False, "params.json: not valid JSON").outcome == "failed"
    assert decide(None, 0.10, False).outcome == "failed"
    assert decide({"study": "s"}, 0.10, False).reason == "the optimizer's gate decision has no holdout Sharpe figures"
    # a keep needs no usable new file
    assert decide(gate(1.0, 0.5), 0.10, False, "missing").outcome == "kept"


# -- the data ----------------------------------------------------------------------------------------------
def record(path: Path, first_ts: int, bars: int, step_ms: int = 300_000, warmup: int = 0) -> None:
    rec = Recorder(path, {"mode": "paper"})
    for i in range(bars):
        ts = first_ts + i * step_ms
        rec.candle("BTC/USDT", "5m", Candle(ts, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 1.0), warmup=i < warmup)
    rec.candle("BTC/USDT", "5m", Candle(first_ts, 1.0, 1.0, 1.0, 1.0, 1.0), warmup=True)  # seen twice: once kept
    rec.close()


def test_without_a_source_the_sessions_recorded_candles_of_the_lookback_are_written_as_csv(tmp_path: Path) -> None:
    cfg = config(tmp_path, **{"reoptimize.lookback_days": "0.5"})  # 144 five-minute bars
    rec = tmp_path / "recording.jsonl"
    start = int(NOW.timestamp() * 1000)
    record(rec, start, 200, warmup=50)
    work = tmp_path / "work"
    work.mkdir()
    chosen = choose_data(cfg, rec, start, work)
    assert chosen.start_day is None and "recorded by this session" in chosen.label
    rows = list(csv.reader(chosen.path.open()))
    assert rows[0] == ["timestamp", "open", "high", "low", "close", "volume"]
    stamps = [int(r[0]) for r in rows[1:]]
    assert stamps == sorted(set(stamps)) and len(stamps) == 144
    assert stamps[-1] == start + 199 * 300_000 and stamps[0] == stamps[-1] - 143 * 300_000
    assert oct(chosen.path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ReoptimizeError, match="cannot be read"):
        choose_data(cfg, tmp_path / "none.jsonl", start, work)


def test_a_configured_source_or_the_data_directorys_candle_store_is_read_from_the_lookbacks_first_day(
        tmp_path: Path) -> None:
    now = int(NOW.timestamp() * 1000)
    given = tmp_path / "candles.csv"
    chosen = choose_data(config(tmp_path, **{"reoptimize.data": str(given)}), tmp_path / "rec", now, tmp_path)
    assert chosen.path == given and chosen.start_day == "2024-01-11"  # 90 days before
    from tradewarden.data.store_arrow import ArrowCandleStore
    from tradewarden.domain.candles import CandleSeries

    cfg = config(tmp_path)
    store = ArrowCandleStore(cfg.data_dir / "candles")
    store.write("binance", CandleSeries.from_candles(
        [Candle(now - i * 300_000, 1.0, 1.0, 1.0, 1.0, 1.0) for i in range(5, 0, -1)], "BTC/USDT", "5m"))
    chosen = choose_data(cfg, tmp_path / "rec", now, tmp_path)
    assert chosen.path == cfg.data_dir and chosen.start_day == "2024-01-11" and "candle store" in chosen.label
    # a store without the traded symbol is passed over for the recording
    other = config(tmp_path, **{"market.symbol": "ETH/USDT"})
    with pytest.raises(ReoptimizeError, match="cannot be read"):
        choose_data(other, tmp_path / "rec", now, tmp_path)


# -- the job with a fake optimizer ---------------------------------------------------------------------------
class FakeOptimizer:
    """Stands in for the child process: checks what it was given and writes what `optimize` writes."""

    def __init__(self, act: Callable[[Path, list[str]], int]) -> None:
        self.act = act
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.killed = False

    def run(self, argv: list[str], env: dict[str, str], log: Path, timeout_s: float) -> int:
        self.calls.append((argv, env))
        return self.act(Path(argv[argv.index("--out") + 1]), argv)

    def kill(self) -> None:
        self.killed = True


def optimized(current: float, new: float, fast: int = 5, slow: int = 20) -> Callable[[Path, list[str]], int]:
    def act(out: Path, argv: list[str]) -> int:
        params_file(out / "params.json", fast, slow)
        (out / "results.json").write_text(json.dumps({"gate": gate(current, new)}))
        return 0
    return act


def job(tmp_path: Path, runner: FakeOptimizer, **settings: Any) -> tuple[Reoptimizer, MemoryEvents, list[Any]]:
    cfg = config(tmp_path, **settings)
    rec = tmp_path / "recording.jsonl"
    if not rec.exists():
        record(rec, int(NOW.timestamp() * 1000), 300)
    events, actions = MemoryEvents(), []
    reopt = Reoptimizer(cfg, tmp_path / "reopt", rec, events, lambda: int(NOW.timestamp() * 1000),
                        lambda *args, **detail: actions.append((args, detail)), runner)
    return reopt, events, actions


def test_better_parameters_replace_the_live_file_and_the_event_carries_the_figures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", "canary-key-not-for-the-child")
    monkeypatch.setenv("LIVE_TRADING", "YES_I_UNDERSTAND")
    runner = FakeOptimizer(optimized(1.0, 1.5))
    reopt, events, actions = job(tmp_path, runner)
    reopt.run_once()
    (argv, env), = runner.calls
    assert argv[:4] == [sys.executable, "-m", "tradewarden.cli.main", "optimize"]
    assert argv[argv.index("--compare-to") + 1] == str(tmp_path / "live.json")
    assert argv[argv.index("--margin") + 1] == "0.1" and argv[argv.index("--trials") + 1] == "4"
    assert "--apply" not in argv  # the bot decides and applies
    assert not [k for k in env if k.startswith("TRADEWARDEN_")] and "LIVE_TRADING" not in env
    child = json.loads(Path(argv[argv.index("--config") + 1]).read_text())
    assert set(child) == {"data_dir", "strategy", "market", "instrument", "backtest"}
    assert load_params_file(tmp_path / "live.json").params == {"fast": 5, "slow": 20}
    (fields,) = events.of("ParamsReoptimized")
    assert fields["outcome"] == "applied" and fields["current_sharpe"] == 1.0 and fields["new_sharpe"] == 1.5
    assert fields["new_params"] == {"fast": 5, "slow": 20} and "recorded by this session" in str(fields["data"])
    ((action, actor, _ts), detail), = actions
    assert action == "params_reoptimized" and actor == "reoptimize (scheduled)" and detail["outcome"] == "applied"


def test_parameters_short_of_the_margin_are_kept_and_the_live_file_stays(tmp_path: Path) -> None:
    reopt, events, _ = job(tmp_path, FakeOptimizer(optimized(1.0, 1.05)))
    before = (tmp_path / "live.json").read_bytes()
    reopt.run_once()
    assert (tmp_path / "live.json").read_bytes() == before
    (fields,) = events.of("ParamsReoptimized")
    assert fields["outcome"] == "kept" and fields["required"] == 0.0 and "does not beat" in str(fields["reason"])


def test_a_failed_or_overrun_optimizer_and_an_edit_meanwhile_change_nothing(tmp_path: Path) -> None:
    def crash(out: Path, argv: list[str]) -> int:
        (out / "optimize.log").write_text("study ...\nerror: --data: file or directory not found\n")
        return 2

    def overrun(out: Path, argv: list[str]) -> int:
        raise TimeoutError("the optimizer did not finish within 60 minutes")

    def edited(out: Path, argv: list[str]) -> int:
        params_file(tmp_path / "live.json", 4, 9)  # the operator's edit while the child ran
        return optimized(1.0, 3.0)(out, argv)

    for act, outcome, reason in ((crash, "failed", "exited with 2: error: --data: file or directory not found"),
                                 (overrun, "failed", "did not finish within 60 minutes"),
                                 (edited, "kept", "changed while the optimizer ran")):
        reopt, events, _ = job(tmp_path, FakeOptimizer(act))
        reopt.run_once()
        (fields,) = events.of("ParamsReoptimized")
        assert fields["outcome"] == outcome and reason in str(fields["reason"]), fields
    assert load_params_file(tmp_path / "live.json").params == {"fast": 4, "slow": 9}


def test_a_stopped_session_kills_the_optimizer_and_emits_nothing(tmp_path: Path) -> None:
    reopt, events, actions = job(tmp_path, FakeOptimizer(optimized(1.0, 2.0)))
    asyncio.run(reopt.stop())
    assert isinstance(reopt.runner, FakeOptimizer) and reopt.runner.killed
    assert reopt.run_once()["outcome"] == "failed"
    assert events.events == [] and actions == []
    assert load_params_file(tmp_path / "live.json").params == {"fast": 3, "slow": 8}


# -- the real child process ----------------------------------------------------------------------------------
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def test_the_child_is_killed_on_timeout_and_on_stop(tmp_path: Path) -> None:
    child = ChildProcess()
    with pytest.raises(TimeoutError, match="did not finish"):
        child.run(SLEEPER, {}, tmp_path / "log", timeout_s=0.2)
    codes: list[int] = []
    worker = threading.Thread(target=lambda: codes.append(child.run(SLEEPER, {}, tmp_path / "log", 600)))
    worker.start()
    while child._proc is None and worker.is_alive():  # started
        worker.join(0.05)
    child.kill()
    worker.join(60)
    assert not worker.is_alive() and codes and codes[0] < 0  # ended by a signal, not by itself
    with pytest.raises(ReoptimizeError, match="stopping"):  # a stopped session starts no new child
        child.run(SLEEPER, {}, tmp_path / "log", 600)


# -- the schedule and the config ----------------------------------------------------------------------------
class Declared:
    def __init__(self) -> None:
        self.every_: dict[str, tuple[float, Callable[[], None], int | None]] = {}

    def daily_at(self, name: str, at: str, fn: Callable[[], None]) -> None: ...

    def watch_file(self, name: str, path: Path, fn: Callable[[Path], None]) -> None: ...

    def every(self, name: str, seconds: float, fn: Callable[[], None], *,
              misfire_grace_seconds: int | None = None) -> None:
        self.every_[name] = (seconds, fn, misfire_grace_seconds)


def declare(cfg: AppConfig, reopt: Reoptimizer | None) -> Declared:
    sched = Declared()
    loop = asyncio.new_event_loop()
    try:
        builder.schedule(sched, cfg, "paper", lambda fn: None, loop, lambda: None, lambda: None,  # type: ignore[arg-type]
                         lambda path: None, reopt)
    finally:
        loop.close()
    return sched


def test_the_session_schedules_the_job_every_n_days_in_the_schedulers_own_thread(tmp_path: Path) -> None:
    reopt, _, _ = job(tmp_path, FakeOptimizer(optimized(1.0, 2.0)), **{"reoptimize.every_days": "2.5"})
    seconds, fn, grace = declare(reopt.cfg, reopt).every_[JOB_ID]
    assert seconds == 2.5 * 86_400 and grace == int(seconds)
    assert fn == reopt.run_job  # not handed to the trading worker
    fn()
    assert reopt.runs == 1
    off = load_config(None, {"data_dir": str(tmp_path)}, env={})
    assert JOB_ID not in declare(off, None).every_


def test_the_config_refuses_a_schedule_without_a_parameter_file_or_with_several_symbols(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs strategy\.params_file"):
        load_config(None, {"reoptimize.every_days": "7"}, env={})
    with pytest.raises(ConfigError, match="one symbol"):
        config(tmp_path, **{"market.symbols": "BTC/USDT,ETH/USDT"})
    assert load_config(None, {}, env={}).reoptimize.every_days is None  # off by default
