"""Scheduled re-optimization: a running bot re-fits its strategy's parameters on recent data, in another process.

Every ``reoptimize.every_days`` the session's scheduler calls :meth:`Reoptimizer.run_once` in one of its own
threads (never on the event loop or the trading worker), which:

1. picks the candles (:func:`choose_data`): ``reoptimize.data`` when set; else the data directory's candle
   store when it holds the symbol (what ``tradewarden data download`` keeps); else the candles this session
   recorded (``recording.jsonl``: the warm-up history and every closed candle since; a session on the built-in
   simulator has nothing else), the last ``lookback_days`` of them written to a CSV file;
2. runs ``tradewarden optimize`` as a child process with the session's strategy, market, instrument and
   backtest settings (a config file of those sections only, and an environment without ``TRADEWARDEN_*``
   settings or ``LIVE_TRADING``: the child never sees a credential), ``--compare-to`` the live parameter file
   and ``--margin``, but not ``--apply``: the child scores both parameter sets on the same holdout and writes
   ``results.json``; the bot decides;
3. decides (:func:`decide`, pure): the gate of ``optimize --compare-to`` (:func:`~tradewarden.optimize.gate.
   gate_decision`) on the two holdout Sharpes the child measured, and only if the live file was not changed
   while the child ran and the new file is a valid parameter file of the same strategy;
4. applies: the new parameter file replaces ``strategy.params_file`` atomically, and the session's parameter
   watch (:mod:`tradewarden.runtime.param_watch`) reloads it at its next poll (``ParamsReloaded``);
5. emits ``ParamsReoptimized`` (applied, kept or failed, with the figures) and records the operator action
   ``params_reoptimized``, which the bot copies into its audit trail.

The child is killed when the session stops (:meth:`Reoptimizer.stop`) or after ``reoptimize.timeout_minutes``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from tradewarden.config.models import AppConfig
from tradewarden.domain.events import EventType
from tradewarden.domain.ports import EventSink
from tradewarden.optimize.gate import gate_decision
from tradewarden.optimize.paramsfile import ParamsFileError, load_params_file, write_params_file
from tradewarden.private_files import UnwritablePathError, open_private, private_dir, write_private

log = logging.getLogger(__name__)

JOB_ID = "reoptimize"
ACTOR = "reoptimize (scheduled)"
DAY_MS = 86_400_000
Outcome = Literal["applied", "kept", "failed"]


class ReoptimizeError(RuntimeError):
    """A re-optimization that cannot run (no data yet, the optimizer failed); the message says why."""


# -- what is decided -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str


def decide(gate: Mapping[str, Any] | None, margin: float, live_changed: bool,
           new_file_problem: str | None = None) -> Verdict:
    """Apply, keep or fail, from the gate record the optimizer wrote (``results.json``'s ``gate``).

    The rule is the gate's own (recomputed here with this session's margin, not taken from the record's
    ``decision``); an "apply" still keeps the live file when it changed while the optimizer ran (an operator's
    edit wins) and fails when the new file cannot be used."""
    if gate is None:
        return Verdict("failed", "the optimizer wrote no gate decision")
    try:
        current, new = float(gate["current_oos_sharpe"]), float(gate["new_oos_sharpe"])
    except (KeyError, TypeError, ValueError):
        return Verdict("failed", "the optimizer's gate decision has no holdout Sharpe figures")
    decision = gate_decision(current, new, margin)
    if not decision.apply:
        return Verdict("kept", decision.reason)
    if new_file_problem is not None:
        return Verdict("failed", f"the new parameters cannot be used: {new_file_problem}")
    if live_changed:
        return Verdict("kept", "the parameter file changed while the optimizer ran: the operator's edit is kept "
                               f"({decision.reason})")
    return Verdict("applied", decision.reason)


# -- the candles -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataChoice:
    path: Path
    start_day: str | None  # --from (UTC day) for a file or store; None: the file holds only the recent candles
    label: str             # what the event says the data was


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def _store_holds(root: Path, symbol: str) -> bool:
    from tradewarden.data.store_arrow import ArrowCandleStore

    return any(sym == symbol for _, sym, _ in ArrowCandleStore(root).held())


def choose_data(cfg: AppConfig, recording: Path, now_ms: int, work: Path) -> DataChoice:
    """Where the optimizer's candles come from (see the module's docstring)."""
    from tradewarden.data.sources import store_root

    lookback_ms = int(cfg.reoptimize.lookback_days * DAY_MS)
    if cfg.reoptimize.data is not None:
        return DataChoice(cfg.reoptimize.data, _day(now_ms - lookback_ms), str(cfg.reoptimize.data))
    root = store_root(cfg.data_dir) if cfg.data_dir.is_dir() else None
    if root is not None and _store_holds(root, cfg.market.symbol):
        return DataChoice(cfg.data_dir, _day(now_ms - lookback_ms), f"candle store {root}")
    return DataChoice(recorded_candles(recording, cfg.market.symbol, lookback_ms, work), None,
                      f"candles recorded by this session ({recording})")


def recorded_candles(recording: Path, symbol: str, lookback_ms: int, work: Path) -> Path:
    """The session's recorded candles of ``symbol`` (history and traded, once each), the last ``lookback_ms``
    of them, as a uniform CSV file in ``work``."""
    from tradewarden.runtime.recording import RecordingError, open_recording

    try:
        rows = {c.ts: c for sym, _, c in _all_candles(open_recording(recording)) if sym == symbol}
    except (OSError, RecordingError) as exc:
        raise ReoptimizeError(f"the session's recorded candles cannot be read: {exc}") from None
    if not rows:
        raise ReoptimizeError(f"the session has recorded no {symbol} candle yet")
    last = max(rows)
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    out.writerow(["timestamp", "open", "high", "low", "close", "volume"])
    for ts in sorted(t for t in rows if t > last - lookback_ms):
        c = rows[ts]
        out.writerow([ts, repr(c.open), repr(c.high), repr(c.low), repr(c.close), repr(c.volume)])
    path = work / f"{symbol.replace('/', '')}-recorded.csv"
    write_private(path, text.getvalue())
    return path


def _all_candles(recording: Any) -> list[Any]:
    return [*recording.candles(warmup=True), *recording.candles()]


# -- the optimizer process ---------------------------------------------------------------------------------
class Runner(Protocol):
    """Runs ``argv`` with ``env``, its output to ``log``; returns the exit code (raises TimeoutError)."""

    def run(self, argv: list[str], env: dict[str, str], log: Path, timeout_s: float) -> int: ...

    def kill(self) -> None: ...


class ChildProcess:
    """The optimizer in a child process of its own session (a Ctrl-C on the bot's terminal is the bot's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._killed = False

    def run(self, argv: list[str], env: dict[str, str], log: Path, timeout_s: float) -> int:
        with open_private(log) as out, self._lock:
            if self._killed:
                raise ReoptimizeError("the session is stopping")
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                          env=env, start_new_session=True)
        proc = self._proc
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise TimeoutError(f"the optimizer did not finish within {timeout_s / 60:g} minutes") from None
        finally:
            with self._lock:
                self._proc = None

    def kill(self) -> None:
        with self._lock:
            self._killed = True
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()


def child_config(cfg: AppConfig, work: Path) -> dict[str, Any]:
    """The settings the optimizer needs and nothing else: no exchange, no database, no credential."""
    dump = cfg.model_dump(mode="json")
    return {"data_dir": str(work),
            "strategy": {"name": cfg.strategy.name},
            "market": {"symbol": cfg.market.symbol, "timeframe": cfg.market.timeframe},
            "instrument": dump["instrument"],
            "backtest": {**dump["backtest"], "start": None, "end": None, "out_dir": str(work)}}


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if not k.upper().startswith("TRADEWARDEN_") and k != "LIVE_TRADING"}


def optimize_argv(cfg: AppConfig, data: DataChoice, config_file: Path, work: Path, study: str) -> list[str]:
    assert cfg.strategy.params_file is not None  # the config refuses a schedule without one
    r = cfg.reoptimize
    argv = [sys.executable, "-m", "tradewarden.cli.main", "optimize", "--config", str(config_file),
            "--data", str(data.path), "--symbol", cfg.market.symbol, "--timeframe", cfg.market.timeframe,
            "--trials", str(r.trials), "--compare-to", str(cfg.strategy.params_file), "--margin", repr(r.margin),
            "--out", str(work), "--data-dir", str(work), "--study", study]
    return argv + (["--from", data.start_day] if data.start_day else [])


def figures(gate: Mapping[str, Any]) -> dict[str, Any]:
    """The gate record's figures as the event carries them."""
    return {"current_sharpe": float(gate["current_oos_sharpe"]), "new_sharpe": float(gate["new_oos_sharpe"]),
            "required": float(gate["required"]), "current_params": dict(gate["current_params"]),
            "new_params": dict(gate["new_params"]), "study": str(gate["study"])}


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


# -- the job -----------------------------------------------------------------------------------------------
RecordAction = Callable[..., None]  # (action, actor, ts, **detail): an operator action every bot audits


class Reoptimizer:
    """The scheduled job, and a node component: :meth:`stop` kills a running optimizer."""

    def __init__(self, cfg: AppConfig, work_root: Path, recording: Path, events: EventSink,
                 clock_ms: Callable[[], int], record_action: RecordAction, runner: Runner | None = None) -> None:
        self.cfg, self.work_root, self.recording = cfg, work_root, recording
        self.events, self.clock_ms, self.record_action = events, clock_ms, record_action
        self.runner: Runner = runner or ChildProcess()
        self.stopped = False
        self.runs = 0

    def start(self) -> None:
        """Nothing to start: the scheduler runs the job."""

    async def stop(self) -> None:
        self.stopped = True
        self.runner.kill()

    def run_job(self) -> None:
        """The scheduler's entry: one re-optimization; a failure is logged, never raised into the scheduler."""
        try:
            self.run_once()
        except Exception:
            log.exception("the scheduled re-optimization failed")

    def run_once(self) -> dict[str, Any]:
        """Optimize, decide, apply; returns the event's fields (emitted unless the session is stopping)."""
        self.runs += 1
        params_file = self.cfg.strategy.params_file
        assert params_file is not None
        started = self.clock_ms()
        stamp = datetime.fromtimestamp(started / 1000, UTC).strftime("%Y%m%dT%H%M%S")
        fields: dict[str, Any] = {"file": str(params_file), "margin": float(self.cfg.reoptimize.margin), "data": ""}
        live_before = _digest(params_file)
        work = self.work_root / stamp
        try:
            private_dir(work, "re-optimization directory")
            data = choose_data(self.cfg, self.recording, started, work)
            fields["data"] = data.label
            results = self._optimize(data, work, f"reoptimize-{stamp}")
        except (ReoptimizeError, TimeoutError, OSError, UnwritablePathError) as exc:
            return self._finish(Verdict("failed", str(exc)), fields)
        gate = results.get("gate")
        if isinstance(gate, Mapping):
            try:
                fields.update(figures(gate), report=str(work))
            except (KeyError, TypeError, ValueError):
                return self._finish(Verdict("failed", "the optimizer's gate decision is incomplete"), fields)
        problem = self._new_file_problem(work / "params.json", params_file)
        verdict = decide(gate if isinstance(gate, Mapping) else None, self.cfg.reoptimize.margin,
                         _digest(params_file) != live_before, problem)
        if verdict.outcome == "applied":
            try:
                write_params_file(params_file, load_params_file(work / "params.json"))
            except (OSError, ParamsFileError) as exc:  # e.g. a read-only file system (systemd's ProtectSystem)
                verdict = Verdict("failed", f"the parameter file cannot be replaced: {exc} ({verdict.reason})")
        return self._finish(verdict, fields)

    def _optimize(self, data: DataChoice, work: Path, study: str) -> dict[str, Any]:
        config_file = work / "optimize.yaml"
        write_private(config_file, json.dumps(child_config(self.cfg, work), indent=2))
        argv = optimize_argv(self.cfg, data, config_file, work, study)
        code = self.runner.run(argv, child_env(os.environ), work / "optimize.log",
                               self.cfg.reoptimize.timeout_minutes * 60)
        if self.stopped:
            raise ReoptimizeError("the session stopped while the optimizer ran")
        if code != 0:
            raise ReoptimizeError(f"the optimizer exited with {code}: {_last_line(work / 'optimize.log')}")
        try:
            results: dict[str, Any] = json.loads((work / "results.json").read_text())
        except (OSError, ValueError) as exc:
            raise ReoptimizeError(f"the optimizer's results.json cannot be read: {exc}") from None
        return results

    @staticmethod
    def _new_file_problem(new: Path, live: Path) -> str | None:
        try:
            made, running = load_params_file(new), load_params_file(live)
            made.strategy_instance()  # the strategy accepts the parameters
        except (ParamsFileError, ValueError) as exc:
            return str(exc)
        if made.strategy != running.strategy:
            return f"{new} holds parameters of {made.strategy}, the live file of {running.strategy}"
        return None

    def _finish(self, verdict: Verdict, fields: dict[str, Any]) -> dict[str, Any]:
        fields = {"outcome": verdict.outcome, "reason": verdict.reason, **fields}
        if self.stopped:  # the session is gone: its event bus with it
            log.info("re-optimization ended after the session stopped: %s", verdict.reason)
            return fields
        now = self.clock_ms()
        self.events.emit(EventType.PARAMS_REOPTIMIZED, now, **fields)
        self.record_action("params_reoptimized", ACTOR, now, **fields)
        log.info("re-optimization %s: %s", verdict.outcome, verdict.reason)
        return fields


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no output)"
    return lines[-1][:300] if lines else "(no output)"
