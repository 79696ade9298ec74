"""Two ``tradewarden optimize`` worker processes share one study on the PostgreSQL server: the trials are
split between them and none is run twice."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tradewarden.optimize.study import OptimizeJob, make_storage, open_study, prepare

from .conftest import calendar_series, write_csv

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_split_one_postgresql_study(tmp_path: Path, strategy_file: str) -> None:
    data = write_csv(tmp_path / "BTCUSDT-1h-synthetic.csv", calendar_series(1400, lambda i: 3))
    name = f"test-distributed-{uuid.uuid4().hex[:12]}"
    target = 30
    try:
        storage = make_storage(PG_URL)
    except Exception as exc:  # no server: this test cannot say anything
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    job = OptimizeJob(strategy=strategy_file, study_name=name, storage=PG_URL, data=str(data), trials=target,
                      windows=4)
    open_study(prepare(job))  # the coordinator creates the study; the workers only load it
    cmd = [sys.executable, "-m", "tradewarden.cli.main", "optimize", "--strategy", strategy_file, "--data",
           str(data), "--storage", PG_URL, "--study", name, "--trials", str(target), "--windows", "4",
           "--worker"]
    workers = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]
    outputs = [w.communicate(timeout=240)[0] for w in workers]
    try:
        assert [w.returncode for w in workers] == [0, 0], outputs
        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        # each worker stops at the target; two checking at the same moment can add one trial
        assert target <= len(finished) <= target + 1
        numbers = [t.number for t in trials]
        assert sorted(numbers) == list(range(len(trials)))          # every trial exists exactly once
        by_worker = Counter(t.user_attrs["wf"]["worker"] if "wf" in t.user_attrs else t.user_attrs["worker"]
                            for t in finished)
        assert len(by_worker) == 2 and all(n >= 3 for n in by_worker.values()), by_worker
        pids = {key.split(":")[1] for key in by_worker}
        assert pids == {str(w.pid) for w in workers}
    finally:
        optuna.delete_study(study_name=name, storage=storage)
