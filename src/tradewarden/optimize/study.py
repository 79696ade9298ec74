"""Optuna studies: the job description, loading data, opening or resuming a study, and running trials
in one or several worker processes that share the study's storage.

Several workers (``--jobs N`` here, or ``tradewarden optimize`` on other machines against one PostgreSQL
URL) cooperate through Optuna's storage: each asks the storage for its next trial, so no trial is run
twice. ``trials`` is the study's *total* target: every worker stops once the study holds that many
finished (complete or pruned) trials, so a resumed study only runs what is missing, and failed trials
(e.g. one interrupted by Ctrl-C) and trials left RUNNING by a worker that was killed are run again.
Workers that check the count at the same moment can each start one more trial, so a study may end up
to ``workers - 1`` trials over the target.

The study remembers what it optimises (strategy, data fingerprint, windows, objective, settings) in a
user attribute; a worker or a resume with anything different is refused with the differences named.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradewarden.backtest.settings import BacktestSettings
from tradewarden.domain.candles import CandleSeries, timeframe_ms
from tradewarden.domain.instrument import Instrument
from tradewarden.optimize.analysis import trial_value
from tradewarden.optimize.evaluate import Evaluator, data_fingerprint
from tradewarden.optimize.objectives import OBJECTIVES
from tradewarden.optimize.space import grid_size, searched_params, suggest
from tradewarden.optimize.windows import WindowPlan, parse_length, plan_windows
from tradewarden.private_files import PRIVATE_FILE, make_private
from tradewarden.strategies.base import ParamError, Strategy
from tradewarden.strategies.registry import strategy_class

META_KEY = "tradewarden"

#: progress(finished trials, target, best value so far or None)
Progress = Callable[[int, int, float | None], None]


class StudyMismatchError(ValueError):
    """An existing study that optimises something else than this command asks for."""


class WorkerError(RuntimeError):
    """A worker process that failed."""


@dataclass(frozen=True)
class OptimizeJob:
    """Everything a worker needs, picklable so worker processes can receive it."""

    strategy: str  # built-in name or path[:Class]
    study_name: str
    storage: str  # an SQLAlchemy URL (sqlite:///... or postgresql://...)
    data: str | None = None  # candle file or directory; None = the bundled sample
    symbol: str = "BTC/USDT"
    timeframe: str = "1h"
    start_ms: int | None = None
    end_ms: int | None = None
    settings: BacktestSettings = field(default_factory=BacktestSettings)
    instrument: Instrument | None = None  # None = Instrument.default_spot(symbol)
    objective: str = "sharpe"
    select_by: str = "oos"
    mode: str = "search"  # "search" or "grid"
    grid: dict[str, list[Any]] | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    trials: int = 100
    holdout: str = "20%"
    in_sample: str | None = None
    out_of_sample: str | None = None
    step: str | None = None
    anchored: bool = False
    windows: int = 5
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r} (known: {', '.join(OBJECTIVES)})")
        if self.select_by not in ("oos", "is"):
            raise ValueError(f"select-by must be 'oos' or 'is', got {self.select_by!r}")
        if self.mode not in ("search", "grid"):
            raise ValueError(f"mode must be 'search' or 'grid', got {self.mode!r}")
        if self.mode == "grid" and not self.grid:
            raise ValueError("grid mode needs a grid (--grid or --grid-file)")
        if self.trials < 1:
            raise ValueError(f"trials must be at least 1, got {self.trials}")

    def target(self) -> int:
        return grid_size(self.grid) if self.mode == "grid" and self.grid else self.trials

    def get_instrument(self) -> Instrument:
        return self.instrument or Instrument.default_spot(self.symbol)


@dataclass
class Prepared:
    job: OptimizeJob
    series: CandleSeries
    strategy_cls: type[Strategy]
    plan: WindowPlan
    evaluator: Evaluator
    fingerprint: str

    def metadata(self) -> dict[str, Any]:
        job = self.job
        return {
            "strategy": self.strategy_cls.name,
            "strategy_spec": job.strategy,
            "symbol": job.symbol,
            "timeframe": job.timeframe,
            "bars": len(self.series),
            "sha256": self.fingerprint,
            "first_ts": int(self.series.ts[0]),
            "last_ts": int(self.series.ts[-1]),
            "plan": self.plan.describe(),
            "objective": job.objective,
            "select_by": job.select_by,
            "mode": job.mode,
            "grid": job.grid,
            "fixed": job.fixed,
            "settings": job.settings.describe(),
        }


def load_series(job: OptimizeJob) -> CandleSeries:
    """The candles the job asks for: loaded and validated, resampled if needed, cut to the dates."""
    from tradewarden.data import sample_path
    from tradewarden.data.sources import load_market

    source = Path(job.data) if job.data else sample_path()
    series = load_market(Path(job.data) if job.data else None, job.symbol, job.timeframe)
    if job.start_ms is not None or job.end_ms is not None:
        series = series.between(job.start_ms, job.end_ms)
    if len(series) == 0:
        raise ValueError(f"{source}: no candles in the requested date range")
    return series


def prepare(job: OptimizeJob, series: CandleSeries | None = None) -> Prepared:
    series = load_series(job) if series is None else series
    cls = strategy_class(job.strategy)
    searched_params(cls, job.fixed)  # unknown fixed names fail here, before any trial
    n = len(series)
    tf = timeframe_ms(series.timeframe)
    holdout = parse_length(job.holdout, tf, n, "holdout")
    search_bars = n - holdout
    in_sample = parse_length(job.in_sample, tf, search_bars, "in-sample") if job.in_sample else None
    out_of_sample = (
        parse_length(job.out_of_sample, tf, search_bars, "out-of-sample") if job.out_of_sample else None
    )
    step = parse_length(job.step, tf, search_bars, "step") if job.step else None
    plan = plan_windows(n, holdout, in_sample, out_of_sample, step, job.anchored, job.windows)
    evaluator = Evaluator(series, cls, job.settings, job.get_instrument(), plan, job.objective)
    return Prepared(job, series, cls, plan, evaluator, data_fingerprint(series))


class StorageError(ValueError):
    """A storage URL that cannot be used."""


def storage_url(text: str) -> str:
    """An SQLAlchemy URL for ``text``: a URL as given, a plain path as an SQLite file. ``postgresql://`` uses
    psycopg2 (our dependency) when psycopg 3, which SQLAlchemy 2.1 assumes, is not installed."""
    import importlib.util

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in text:
        path = Path(text).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        _private_sqlite(path)
        return f"sqlite:///{path}"
    try:
        url = make_url(text)
    except ArgumentError:
        raise StorageError(f"cannot read storage URL {safe_url(text)!r}") from None
    if url.drivername in ("postgresql", "postgres"):
        if importlib.util.find_spec("psycopg") is None:
            url = url.set(drivername="postgresql+psycopg2")
        else:
            url = url.set(drivername="postgresql")
    elif url.drivername == "sqlite" and url.database and url.database != ":memory:" and not url.query.get("uri"):
        path = Path(url.database).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        _private_sqlite(path)
    return url.render_as_string(hide_password=False)


def _private_sqlite(path: Path) -> None:
    """Create the study's SQLite file at mode 0600 before SQLite does (it would use 0644 under the usual umask;
    its write-ahead log and shared-memory files take the database file's mode), and tighten an existing one: a
    study records the data, parameters and results of its owner's strategy."""
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT, PRIVATE_FILE))
    for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        make_private(part)


def safe_url(text: str) -> str:
    """The storage as it may be shown or recorded: a URL with its password masked; a plain path (the default
    storage) as the SQLite URL of that path as given (``storage_url`` makes it absolute when it opens it)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in text:
        return f"sqlite:///{text}"
    try:
        return make_url(text).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unreadable storage URL>"


def make_storage(url: str) -> Any:
    import optuna

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # several worker processes share one SQLite file: wait for the write lock instead of failing
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
    elif url.startswith("postgres"):
        # Trials are cheap to redo: don't wait for the server's disk on each of a trial's ~10 commits. A
        # server crash can lose the last trials (made up on resume), never corrupt the study.
        kwargs["engine_kwargs"] = {"connect_args": {"options": "-c synchronous_commit=off"}}
    # No heartbeat: it cost a fifth of the trial rate, and the target counts only finished trials, so a
    # trial left RUNNING by a killed worker is simply made up by another trial.
    try:
        storage = optuna.storages.RDBStorage(storage_url(url), **kwargs)
    except (ImportError, optuna.exceptions.StorageInternalError) as exc:
        raise StorageError(f"cannot open study storage {safe_url(url)}: {exc}") from None
    if url.startswith("sqlite"):
        _tune_sqlite(storage.engine)
    return storage


def _tune_sqlite(engine: Any) -> None:
    """Write-ahead log and no fsync per commit: a trial makes about ten small commits, and waiting for the
    disk on each made the file, not the backtest, the bottleneck. A crash can lose the last trials' commits
    (they are simply run again on resume) but never corrupts the file."""
    from sqlalchemy import event

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    engine.dispose()  # connections opened while creating the tables do not have the pragmas
    event.listen(engine, "connect", on_connect)


def make_sampler(job: OptimizeJob, worker: int) -> Any:
    import optuna

    seed = None if job.seed is None else job.seed + worker  # distinct seeds: no two workers draw alike
    if job.mode == "grid":
        assert job.grid is not None
        return optuna.samplers.GridSampler(job.grid, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def open_study(prepared: Prepared, worker: int = 0, create: bool = True) -> Any:
    """Create the study or load it; an existing study must optimise the same thing (else
    StudyMismatchError)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    job = prepared.job
    storage = make_storage(job.storage)
    sampler = make_sampler(job, worker)
    meta = prepared.metadata()
    if create:
        study = optuna.create_study(
            storage=storage,
            study_name=job.study_name,
            direction="maximize",
            sampler=sampler,
            load_if_exists=True,
        )
    else:
        study = optuna.load_study(storage=storage, study_name=job.study_name, sampler=sampler)
    existing = study.user_attrs.get(META_KEY)
    if existing is None:
        study.set_user_attr(META_KEY, meta)
        study.set_user_attr("created", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    else:
        differ = sorted(k for k in set(meta) | set(existing) if _norm(meta.get(k)) != _norm(existing.get(k)))
        if differ:
            raise StudyMismatchError(
                f"study {job.study_name!r} already exists and optimises something else "
                f"(differs in: {', '.join(differ)}); use another --study name"
            )
    return study


def _norm(value: Any) -> Any:
    """JSON round-trip form, so tuples and lists compare equal."""
    import json

    return json.loads(json.dumps(value, sort_keys=True, default=str))


def worker_id(worker: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{worker}"


def objective_function(prepared: Prepared, worker: int) -> Callable[[Any], float]:
    import optuna

    job = prepared.job
    searched = searched_params(prepared.strategy_cls, job.fixed)
    me = worker_id(worker)

    def objective(trial: Any) -> float:
        if job.mode == "grid":
            assert job.grid is not None
            values = {name: trial.suggest_categorical(name, choices) for name, choices in job.grid.items()}
        else:
            values = suggest(trial, searched)
        params = {**job.fixed, **values}
        try:
            strategy = prepared.evaluator.strategy(params)
        except ParamError as exc:
            # the strategy rejects this combination (e.g. fast >= slow): not a result, not a failure
            trial.set_user_attr("invalid", str(exc))
            trial.set_user_attr("worker", me)
            raise optuna.TrialPruned(str(exc)) from None
        scores = prepared.evaluator.windows_of(strategy)
        trial.set_user_attr("wf", {**scores.to_attr(), "worker": me})
        return trial_value(scores, job.select_by)

    return objective


def finished_states() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED)


def run_trials(
    prepared: Prepared,
    worker: int = 0,
    progress: Progress | None = None,
    create: bool = True,
    stop_after: int | None = None,
) -> int:
    """Run trials in this process until the study holds its target; returns how many this worker ran.

    ``stop_after`` ends this worker after that many of its own trials (used to split work and in tests).
    """
    from optuna.trial import TrialState

    study = open_study(prepared, worker, create=create)
    target = prepared.job.target()
    states = finished_states()
    ran = 0
    last_report = 0.0

    def callback(study: Any, trial: Any) -> None:
        nonlocal ran, last_report
        ran += 1
        trials = study.get_trials(deepcopy=False, states=states)
        if len(trials) >= target or (stop_after is not None and ran >= stop_after):
            study.stop()
        now = time.monotonic()
        if progress is not None and (now - last_report > 0.1 or len(trials) >= target):
            last_report = now
            values = [t.value for t in trials if t.state == TrialState.COMPLETE]
            progress(len(trials), target, max(values) if values else None)

    already = len(study.get_trials(deepcopy=False, states=states))
    if progress is not None:
        progress(already, target, _best(study))
    if already >= target:
        return 0
    study.optimize(
        objective_function(prepared, worker),
        n_trials=target - already,
        callbacks=[callback],
        gc_after_trial=False,
    )
    return ran


def _best(study: Any) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:  # no complete trial yet
        return None


def _worker_main(job: OptimizeJob, worker: int) -> None:
    run_trials(prepare(job), worker, create=False)


def run_parallel(prepared: Prepared, jobs: int, progress: Progress | None = None) -> None:
    """``jobs`` worker processes on one study: this process plus ``jobs - 1`` spawned ones.

    Processes, not Optuna's threads: the compiled backtest loop holds the GIL, so threads would take turns.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    open_study(prepared, 0, create=True)  # create (or check) the study before the others load it
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_main, args=(prepared.job, i), daemon=True) for i in range(1, jobs)]
    for p in procs:
        p.start()
    try:
        run_trials(prepared, 0, progress, create=False)
        for p in procs:
            p.join()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
    failed = [i + 1 for i, p in enumerate(procs) if p.exitcode != 0]
    if failed:
        raise WorkerError(f"worker process(es) {failed} failed; see their messages above")
