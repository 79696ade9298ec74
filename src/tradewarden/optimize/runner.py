"""After the trials: the walk-forward analysis, the holdout test of the chosen parameters, the gate against
the current parameters, and the files (``params.json``, ``results.json``, ``optimization.html``,
``gate.jsonl``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradewarden import __version__
from tradewarden.domain.candles import timeframe_ms
from tradewarden.optimize.analysis import (
    DEFAULT_OVERFIT_THRESHOLD,
    OverfitCheck,
    ScoredTrial,
    WalkForward,
    overfit_check,
    walk_forward,
)
from tradewarden.optimize.evaluate import FinalScores, WindowScores
from tradewarden.optimize.gate import GateDecision, gate_decision, record_decision
from tradewarden.optimize.paramsfile import (
    DataRange,
    ParamsFile,
    StudyInfo,
    load_params_file,
    write_params_file,
)
from tradewarden.optimize.study import Prepared, safe_url
from tradewarden.private_files import private_dir, write_private


class NoResultsError(ValueError):
    """A study without a single completed trial (e.g. every combination was rejected)."""


@dataclass
class Analysis:
    prepared: Prepared
    study_name: str
    storage: str  # password masked
    counts: dict[str, int]  # trials by state
    best: ScoredTrial
    best_value: float
    ranked: list[tuple[float, ScoredTrial]]
    walk_forward: WalkForward
    final: FinalScores  # the chosen parameters: search period vs holdout
    holdout_check: OverfitCheck
    importances: dict[str, float]
    history: list[tuple[int, float]]  # (trial number, value) of completed trials
    threshold: float

    @property
    def best_windows(self) -> WindowScores:
        return self.best.scores

    @property
    def trials_summary(self) -> str:
        """How many trials ended how, pruned and failed always named (0 included), so that a search
        where most combinations were rejected is not mistaken for a full one."""
        c = self.counts
        parts = [f"{sum(c.values())} trials: {c.get('complete', 0)} complete",
                 f"{c.get('pruned', 0)} pruned (parameters the strategy rejects)", f"{c.get('fail', 0)} failed"]
        parts += [f"{n} {state}" for state, n in sorted(c.items()) if state not in ("complete", "pruned", "fail")]
        return ", ".join(parts)


@dataclass
class GateOutcome:
    decision: GateDecision
    current_file: Path
    current_params: dict[str, Any]
    current_final: FinalScores
    record: dict[str, Any]
    applied: bool


def analyse(prepared: Prepared, study: Any, threshold: float = DEFAULT_OVERFIT_THRESHOLD) -> Analysis:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    scored: list[tuple[float, ScoredTrial]] = []
    for t in trials:
        if t.state == TrialState.COMPLETE and "wf" in t.user_attrs:
            params = {**prepared.job.fixed, **t.params}
            scored.append(
                (float(t.value), ScoredTrial(t.number, params, WindowScores.from_attr(t.user_attrs["wf"])))
            )
    if not scored:
        invalid = [t.user_attrs["invalid"] for t in trials if "invalid" in t.user_attrs]
        hint = f"; e.g. {invalid[0]}" if invalid else ""
        raise NoResultsError(
            f"study {study.study_name!r} has no completed trial ({counts or 'no trials'}){hint}"
        )
    ranked = sorted(scored, key=lambda vt: (-vt[0], vt[1].number))
    best_value, best = ranked[0]
    wf = walk_forward([s for _, s in scored], threshold)
    final = prepared.evaluator.final(best.params)
    obj = prepared.job.objective
    holdout = overfit_check(final.in_sample[obj], final.out_of_sample[obj], threshold)
    return Analysis(
        prepared,
        study.study_name,
        safe_url(prepared.job.storage),
        counts,
        best,
        best_value,
        ranked,
        wf,
        final,
        holdout,
        _importances(study),
        [(s.number, v) for v, s in sorted(scored, key=lambda vt: vt[1].number)],
        threshold,
    )


def _importances(study: Any) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA by default), or none when they cannot be computed
    (fewer than two completed trials, or nothing varied)."""
    import warnings

    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "too few trials": the page says so instead
            return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def data_range(prepared: Prepared) -> DataRange:
    series, plan = prepared.series, prepared.plan
    tf = timeframe_ms(series.timeframe)
    end = int(series.ts[-1]) + tf
    split = int(series.ts[plan.search_end])
    source = prepared.job.data or "bundled sample"
    return DataRange(
        source=str(source),
        symbol=series.symbol,
        timeframe=series.timeframe,
        sha256=prepared.fingerprint,
        bars=len(series),
        start=_dt(int(series.ts[0])),
        end=_dt(end),
        search_start=_dt(int(series.ts[0])),
        search_end=_dt(split),
        holdout_start=_dt(split),
        holdout_end=_dt(end),
    )


def _metrics(scores: dict[str, float], trades: int) -> dict[str, float | int]:
    return {**{k: round(v, 6) for k, v in scores.items()}, "trades": trades}


def validation_summary(a: Analysis) -> dict[str, Any]:
    wf = a.walk_forward
    return {
        "objective": a.prepared.job.objective,
        "select_by": a.prepared.job.select_by,
        "overfit_threshold": a.threshold,
        "windows": a.prepared.plan.describe(),
        "walk_forward": {
            "rows": [asdict(r) for r in wf.rows],
            "mean_in_sample": wf.mean_in_sample,
            "mean_out_of_sample": wf.mean_out_of_sample,
            "check": wf.check.to_dict(),
        },
        "chosen_per_window": {
            "in_sample": list(a.best.scores.is_),
            "out_of_sample": list(a.best.scores.oos),
            "in_sample_sharpe": list(a.best.scores.is_sharpe),
            "out_of_sample_sharpe": list(a.best.scores.oos_sharpe),
        },
        "holdout": a.holdout_check.to_dict(),
    }


def params_file_for(a: Analysis) -> ParamsFile:
    job = a.prepared.job
    completed = a.counts.get("complete", 0)
    return ParamsFile(
        strategy=job.strategy,
        params=a.best.params,
        created=datetime.now(UTC),
        version=__version__,
        study=StudyInfo(
            name=a.study_name,
            storage=a.storage,
            trial=a.best.number,
            objective=job.objective,
            select_by=job.select_by,
            mode=job.mode,
            completed_trials=completed,
        ),
        data=data_range(a.prepared),
        metrics={
            "in_sample": _metrics(a.final.in_sample, a.final.trades_in_sample),
            "out_of_sample": _metrics(a.final.out_of_sample, a.final.trades_out_of_sample),
        },
        validation=validation_summary(a),
    )


def compare_to(
    a: Analysis,
    current_path: Path,
    margin: float,
    out_dir: Path,
    apply: bool = False,
    new_file: ParamsFile | None = None,
) -> GateOutcome:
    """Score the current parameters on the same holdout and decide; record the decision in gate.jsonl.

    With ``apply`` and an "apply" decision, the new parameter file replaces ``current_path`` (atomically).
    """
    current = load_params_file(current_path)
    strategy_name = a.prepared.strategy_cls.name
    if current.strategy not in (a.prepared.job.strategy, strategy_name):
        raise ValueError(
            f"{current_path}: holds parameters for strategy {current.strategy!r}, this study "
            f"optimises {strategy_name!r}"
        )
    current_final = a.prepared.evaluator.final(dict(current.params))
    decision = gate_decision(current_final.out_of_sample["sharpe"], a.final.out_of_sample["sharpe"], margin)
    dr = data_range(a.prepared)
    applied = False
    if apply and decision.apply:
        write_params_file(current_path, new_file or params_file_for(a))
        applied = True
    record = record_decision(
        out_dir / "gate.jsonl",
        decision,
        {
            "current_file": str(current_path),
            "current_params": dict(current.params),
            "new_params": a.best.params,
            "strategy": strategy_name,
            "study": a.study_name,
            "holdout_start": dr.holdout_start.isoformat(),
            "holdout_end": dr.holdout_end.isoformat(),
            "current_holdout": current_final.out_of_sample,
            "new_holdout": a.final.out_of_sample,
            "applied": applied,
        },
    )
    return GateOutcome(decision, current_path, dict(current.params), current_final, record, applied)


def write_results(a: Analysis, out_dir: Path, gate: GateOutcome | None = None) -> dict[str, Path]:
    """params.json (chosen parameters with provenance), results.json (everything) and optimization.html."""
    from tradewarden.optimize.report_html import write_report

    private_dir(out_dir, "output directory")
    pf = params_file_for(a)
    paths = {
        "params": out_dir / "params.json",
        "results": out_dir / "results.json",
        "html": out_dir / "optimization.html",
    }
    write_params_file(paths["params"], pf)
    results = {
        "study": a.study_name,
        "storage": a.storage,
        "strategy": a.prepared.strategy_cls.name,
        "trials": a.counts,
        "best": {"trial": a.best.number, "value": a.best_value, "params": a.best.params},
        "top": [{"trial": s.number, "value": v, "params": s.params} for v, s in a.ranked[:20]],
        "importances": a.importances,
        "metrics": pf.metrics,
        "validation": pf.validation,
        "data": pf.data.model_dump(mode="json"),
        "gate": gate.record if gate else None,
    }
    write_private(paths["results"], json.dumps(results, indent=2, default=str) + "\n")
    write_report(paths["html"], a, gate)
    return paths
