"""Walk-forward analysis and the overfitting check: pure functions of the trials' window scores.

* The **trial value** Optuna maximises is the mean of the objective over the walk-forward windows, taken
  on the out-of-sample parts (``select_by="oos"``, the default) or the in-sample parts (``"is"``).
* The **walk-forward analysis** refits per window: for window ``k`` it takes, among all trials, the
  parameters with the best *in-sample* score on window ``k`` (ties: the earliest trial) and reports their
  score on the following out-of-sample part. Only window ``k``'s in-sample bars decide the choice, so the
  out-of-sample column is an honest estimate of what fitting then trading would have earned.
* **Overfitting** is flagged when the in-sample score is positive and the out-of-sample score is below
  ``threshold`` (default 0.5) times it: e.g. an in-sample Sharpe of 2.0 and out-of-sample 0.9 (45%).
  An in-sample score at or below zero has no edge to lose and is not flagged (the reason says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from tradewarden.optimize.evaluate import WindowScores

DEFAULT_OVERFIT_THRESHOLD = 0.5


def trial_value(scores: WindowScores, select_by: str) -> float:
    if select_by == "oos":
        return fmean(scores.oos)
    if select_by == "is":
        return fmean(scores.is_)
    raise ValueError(f"select_by must be 'oos' or 'is', got {select_by!r}")


@dataclass(frozen=True)
class OverfitCheck:
    in_sample: float
    out_of_sample: float
    ratio: float | None  # out_of_sample / in_sample when in_sample > 0
    threshold: float
    overfit: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "in_sample": self.in_sample,
            "out_of_sample": self.out_of_sample,
            "ratio": self.ratio,
            "threshold": self.threshold,
            "overfit": self.overfit,
            "reason": self.reason,
        }


def overfit_check(
    in_sample: float, out_of_sample: float, threshold: float = DEFAULT_OVERFIT_THRESHOLD
) -> OverfitCheck:
    if in_sample <= 0:
        return OverfitCheck(
            in_sample,
            out_of_sample,
            None,
            threshold,
            False,
            "in-sample score is not positive: no fitted edge to lose",
        )
    ratio = out_of_sample / in_sample
    if ratio < threshold:
        return OverfitCheck(
            in_sample,
            out_of_sample,
            ratio,
            threshold,
            True,
            f"out-of-sample is {ratio:.0%} of in-sample, below the {threshold:.0%} threshold",
        )
    return OverfitCheck(
        in_sample,
        out_of_sample,
        ratio,
        threshold,
        False,
        f"out-of-sample is {ratio:.0%} of in-sample (threshold {threshold:.0%})",
    )


@dataclass(frozen=True)
class ScoredTrial:
    number: int
    params: dict[str, Any]
    scores: WindowScores


@dataclass(frozen=True)
class RefitWindow:
    window: int
    trial: int
    params: dict[str, Any]
    in_sample: float
    out_of_sample: float
    in_sample_sharpe: float
    out_of_sample_sharpe: float


@dataclass(frozen=True)
class WalkForward:
    rows: tuple[RefitWindow, ...]
    check: OverfitCheck

    @property
    def mean_in_sample(self) -> float:
        return fmean(r.in_sample for r in self.rows)

    @property
    def mean_out_of_sample(self) -> float:
        return fmean(r.out_of_sample for r in self.rows)

    @property
    def mean_out_of_sample_sharpe(self) -> float:
        return fmean(r.out_of_sample_sharpe for r in self.rows)


def walk_forward_table(wf: WalkForward, objective: str) -> tuple[list[str], list[list[str | int | float]]]:
    """The walk-forward table's header and rows (one per window, then the means), for the terminal and the
    report alike. The Sharpe columns are shown beside the objective's, unless the objective is the Sharpe
    (two identical column pairs otherwise)."""
    sharpe_too = objective != "sharpe"
    head = ["window", "trial", "parameters", f"IS {objective}", f"OOS {objective}"]
    if sharpe_too:
        head += ["IS sharpe", "OOS sharpe"]
    rows: list[list[str | int | float]] = []
    for r in wf.rows:
        row: list[str | int | float] = [f"w{r.window}", r.trial, ", ".join(f"{k}={v}" for k, v in r.params.items()),
                                        r.in_sample, r.out_of_sample]
        if sharpe_too:
            row += [r.in_sample_sharpe, r.out_of_sample_sharpe]
        rows.append(row)
    means: list[str | int | float] = ["mean", "", "", wf.mean_in_sample, wf.mean_out_of_sample]
    rows.append([*means, "", ""] if sharpe_too else means)
    return head, rows


def walk_forward(trials: Sequence[ScoredTrial], threshold: float = DEFAULT_OVERFIT_THRESHOLD) -> WalkForward:
    """Refit per window (best in-sample trial of each window) and score the following out-of-sample part."""
    if not trials:
        raise ValueError("no completed trials to analyse")
    n_windows = len(trials[0].scores.is_)
    rows = []
    for k in range(n_windows):
        best = max(trials, key=lambda t: (t.scores.is_[k], -t.number))
        s = best.scores
        rows.append(
            RefitWindow(
                k, best.number, dict(best.params), s.is_[k], s.oos[k], s.is_sharpe[k], s.oos_sharpe[k]
            )
        )
    mean_is = fmean(r.in_sample for r in rows)
    mean_oos = fmean(r.out_of_sample for r in rows)
    return WalkForward(tuple(rows), overfit_check(mean_is, mean_oos, threshold))
