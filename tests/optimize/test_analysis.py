"""Overfitting checks and the per-window refit of the walk-forward analysis."""

from __future__ import annotations

import pytest

from tradewarden.optimize.analysis import ScoredTrial, overfit_check, trial_value, walk_forward
from tradewarden.optimize.evaluate import WindowScores


@pytest.mark.parametrize(("is_", "oos", "overfit"), [
    (2.0, 1.0, False),     # exactly 50%: not below the threshold
    (2.0, 0.99, True),
    (2.0, -0.5, True),
    (1.0, 1.5, False),
    (0.0, -1.0, False),    # nothing fitted to lose
    (-1.0, -3.0, False),
])
def test_overfit_threshold(is_: float, oos: float, overfit: bool) -> None:
    check = overfit_check(is_, oos, 0.5)
    assert check.overfit is overfit
    assert check.ratio == (None if is_ <= 0 else oos / is_)


def _trial(number: int, is_: list[float], oos: list[float]) -> ScoredTrial:
    return ScoredTrial(number, {"p": number}, WindowScores(tuple(is_), tuple(oos), tuple(is_), tuple(oos)))


def test_refit_picks_the_best_in_sample_trial_per_window_and_reports_its_out_of_sample() -> None:
    trials = [
        _trial(0, [3.0, 0.1, 1.0], [0.5, 0.2, 9.0]),
        _trial(1, [1.0, 2.0, 1.0], [9.0, 1.5, 0.3]),
        _trial(2, [2.0, 1.0, 0.5], [9.0, 9.0, 9.0]),  # best out of sample everywhere, never best in sample
    ]
    wf = walk_forward(trials, 0.5)
    assert [(r.window, r.trial) for r in wf.rows] == [(0, 0), (1, 1), (2, 0)]  # window 2: tie -> earliest
    assert [r.out_of_sample for r in wf.rows] == [0.5, 1.5, 9.0]
    assert wf.mean_in_sample == pytest.approx((3.0 + 2.0 + 1.0) / 3)
    assert wf.mean_out_of_sample == pytest.approx((0.5 + 1.5 + 9.0) / 3)
    assert wf.check.overfit is False


def test_refit_flags_overfitting_when_out_of_sample_collapses() -> None:
    wf = walk_forward([_trial(0, [2.0, 2.0], [0.1, -0.2]), _trial(1, [1.0, 1.0], [1.0, 1.0])], 0.5)
    assert [r.trial for r in wf.rows] == [0, 0]
    assert wf.check.overfit and "below the 50% threshold" in wf.check.reason


def test_trial_value_is_the_mean_over_windows() -> None:
    s = WindowScores((1.0, 3.0), (0.0, 1.0), (0.0, 0.0), (0.0, 0.0))
    assert trial_value(s, "is") == 2.0
    assert trial_value(s, "oos") == 0.5
    with pytest.raises(ValueError):
        trial_value(s, "holdout")
    with pytest.raises(ValueError, match="no completed trials"):
        walk_forward([])
