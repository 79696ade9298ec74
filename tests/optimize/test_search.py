"""Studies on synthetic candles whose best parameters are known; overfitting flags; resuming a study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from tradewarden.domain.candles import CandleSeries
from tradewarden.optimize.runner import analyse
from tradewarden.optimize.study import OptimizeJob, StudyMismatchError, open_study, prepare, run_trials


def _job(tmp_path: Path, strategy_file: str, **kw: Any) -> OptimizeJob:
    base: dict[str, Any] = {"strategy": strategy_file, "study_name": "t", "storage": str(tmp_path / "s.db"),
                            "holdout": "20%", "windows": 4, "seed": 0}
    return OptimizeJob(**{**base, **kw})


def _trials(job: OptimizeJob) -> list[Any]:
    from tradewarden.optimize.study import make_storage

    return optuna.load_study(study_name=job.study_name, storage=make_storage(job.storage)).get_trials()


def test_grid_finds_the_known_best_and_prunes_rejected_combinations(
        tmp_path: Path, strategy_file: str, steady: CandleSeries) -> None:
    grid = {"period": [5, 6, 7, 8], "phase": [2, 3, 4, 5, 6, 7]}
    job = _job(tmp_path, strategy_file, mode="grid", grid=grid)
    prepared = prepare(job, steady)
    run_trials(prepared)
    trials = _trials(job)
    assert len(trials) == 24
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    # phase must be below period: (5,5..7), (6,6..7), (7,7) are rejected by the strategy itself
    assert sorted((t.params["period"], t.params["phase"]) for t in pruned) == [
        (5, 5), (5, 6), (5, 7), (6, 6), (6, 7), (7, 7)]
    assert all("must be below period" in t.user_attrs["invalid"] for t in pruned)
    a = analyse(prepared, open_study(prepared, create=False))
    assert a.best.params == {"period": 7, "phase": 3}
    assert all(r.params == {"period": 7, "phase": 3} for r in a.walk_forward.rows)
    assert not a.walk_forward.check.overfit and not a.holdout_check.overfit
    assert a.final.out_of_sample["sharpe"] > 5 and a.final.trades_out_of_sample > 30


def test_search_finds_the_known_best_phase(tmp_path: Path, strategy_file: str, steady: CandleSeries) -> None:
    job = _job(tmp_path, strategy_file, fixed={"period": 7}, trials=25)
    prepared = prepare(job, steady)
    run_trials(prepared)
    a = analyse(prepared, open_study(prepared, create=False))
    assert a.best.params == {"period": 7, "phase": 3}
    assert sum(a.counts.values()) == 25


def test_regime_change_is_flagged_as_overfitting(
        tmp_path: Path, strategy_file: str, regime_change: CandleSeries) -> None:
    job = _job(tmp_path, strategy_file, mode="grid", grid={"period": [7], "phase": [1, 2, 3, 4, 5, 6]})
    prepared = prepare(job, regime_change)
    run_trials(prepared)
    a = analyse(prepared, open_study(prepared, create=False))
    assert a.best.params["phase"] == 3            # right for most of the search period...
    assert a.final.in_sample["sharpe"] > 0
    assert a.final.out_of_sample["sharpe"] < 0    # ...wrong in the holdout
    assert a.holdout_check.overfit
    assert a.walk_forward.rows[0].params["phase"] == 3


def test_interrupted_study_resumes_to_its_target(
        tmp_path: Path, strategy_file: str, steady: CandleSeries) -> None:
    job = _job(tmp_path, strategy_file, trials=12)
    prepared = prepare(job, steady)
    calls = 0
    real = prepared.evaluator.windows_of

    def interrupt_on_sixth(strategy: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 6:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a trial
        return real(strategy)

    prepared.evaluator.windows_of = interrupt_on_sixth  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        run_trials(prepared)
    before = _trials(job)
    assert TrialState.FAIL in {t.state for t in before}
    finished_before = {t.number: (t.state, t.value) for t in before if t.state != TrialState.FAIL}
    assert 5 <= len(finished_before) < 12

    resumed = prepare(job, steady)          # a new process would rebuild everything the same way
    ran = run_trials(resumed)
    after = _trials(job)
    finished = [t for t in after if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 12 and ran == 12 - len(finished_before)
    assert {t.number: (t.state, t.value) for t in after if t.number in finished_before} == finished_before
    assert run_trials(prepare(job, steady)) == 0   # already at its target: nothing more to do


def test_resuming_with_other_data_or_settings_is_refused(
        tmp_path: Path, strategy_file: str, steady: CandleSeries, regime_change: CandleSeries) -> None:
    job = _job(tmp_path, strategy_file, trials=2)
    run_trials(prepare(job, steady))
    with pytest.raises(StudyMismatchError, match="differs in: sha256"):
        run_trials(prepare(job, regime_change))
    with pytest.raises(StudyMismatchError, match="objective"):
        run_trials(prepare(_job(tmp_path, strategy_file, trials=2, objective="profit"), steady))
