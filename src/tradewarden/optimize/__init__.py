"""Strategy optimization and validation: Optuna studies over a strategy's declared parameter ranges, scored
by walk-forward validation (fit on each in-sample window, score on the following out-of-sample window) with
a final holdout the search never sees; grids evaluated the same way; overfitting flags; parameter files
with provenance (:func:`load_params_file`, which the runtime uses); the re-optimization gate; the
self-contained ``optimization.html``; and workers sharing one study through SQLite or PostgreSQL storage.
"""

from tradewarden.optimize.analysis import OverfitCheck, WalkForward, overfit_check, walk_forward
from tradewarden.optimize.gate import GateDecision, gate_decision
from tradewarden.optimize.objectives import OBJECTIVES
from tradewarden.optimize.paramsfile import ParamsFile, ParamsFileError, load_params_file, write_params_file
from tradewarden.optimize.study import OptimizeJob, prepare, run_parallel, run_trials
from tradewarden.optimize.windows import Window, WindowPlan, plan_windows, split_holdout, walk_forward_windows

__all__ = [
    "OBJECTIVES",
    "GateDecision",
    "OptimizeJob",
    "OverfitCheck",
    "ParamsFile",
    "ParamsFileError",
    "WalkForward",
    "Window",
    "WindowPlan",
    "gate_decision",
    "load_params_file",
    "overfit_check",
    "plan_windows",
    "prepare",
    "run_parallel",
    "run_trials",
    "split_holdout",
    "walk_forward",
    "walk_forward_windows",
    "write_params_file",
]
