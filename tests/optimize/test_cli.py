"""``tradewarden optimize`` end to end on small synthetic data: files written, grid mode, the gate, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.optimize.paramsfile import load_params_file

from .conftest import calendar_series, write_csv

runner = CliRunner()


@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "BTCUSDT-1h-synthetic.csv", calendar_series(1400, lambda i: 3))


def _run(args: list[str]) -> tuple[int, str]:
    result = runner.invoke(app, ["optimize", *args])
    return result.exit_code, result.output


def _common(tmp_path: Path, data_csv: Path, strategy_file: str, study: str) -> list[str]:
    return ["--strategy", strategy_file, "--data", str(data_csv), "--storage", str(tmp_path / "studies.db"),
            "--study", study, "--out", str(tmp_path / study), "--windows", "4", "--seed", "1"]


def test_search_writes_parameters_report_and_results(
        tmp_path: Path, data_csv: Path, strategy_file: str) -> None:
    args = [*_common(tmp_path, data_csv, strategy_file, "s1"), "--fix", "period=7", "--trials", "20"]
    code, out = _run(args)
    assert code == 0, out
    assert "Walk-forward" in out and "holdout" in out
    pf = load_params_file(tmp_path / "s1" / "params.json")
    assert pf.params == {"period": 7, "phase": 3}
    assert pf.study.name == "s1" and 0 < pf.study.completed_trials <= 20
    assert pf.data.search_end == pf.data.holdout_start < pf.data.holdout_end == pf.data.end
    assert pf.metrics["out_of_sample"]["sharpe"] > 5
    assert pf.validation["holdout"]["overfit"] is False
    html = (tmp_path / "s1" / "optimization.html").read_text()
    assert "<svg" in html and "Parameter importances" in html and "out-of-sample" in html
    assert not re.search(r"<script|https?://|<link", html)  # self-contained: nothing to fetch
    results = json.loads((tmp_path / "s1" / "results.json").read_text())
    assert results["best"]["params"] == {"period": 7, "phase": 3}


def test_grid_mode(tmp_path: Path, data_csv: Path, strategy_file: str) -> None:
    code, out = _run([*_common(tmp_path, data_csv, strategy_file, "g1"), "--mode", "grid",
                      "--grid", "period=6,7;phase=2,3,4"])
    assert code == 0, out
    results = json.loads((tmp_path / "g1" / "results.json").read_text())
    assert results["trials"] == {"complete": 6}
    assert results["best"]["params"] == {"period": 7, "phase": 3}


def test_gate_applies_better_parameters_and_records_the_decision(
        tmp_path: Path, data_csv: Path, strategy_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRADEWARDEN_CONFIG", "TRADEWARDEN_DATABASE__URL", "TRADEWARDEN_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(tmp_path / "bot-data"))  # the bot's state, found as `run` does
    code, out = _run([*_common(tmp_path, data_csv, strategy_file, "base"), "--mode", "grid",
                      "--grid", "period=7;phase=1"])
    assert code == 0, out
    current = tmp_path / "current.json"
    current.write_text((tmp_path / "base" / "params.json").read_text())
    code, out = _run([*_common(tmp_path, data_csv, strategy_file, "new"), "--mode", "grid",
                      "--grid", "period=7;phase=1,3", "--compare-to", str(current), "--apply"])
    assert code == 0, out
    assert "APPLY" in out
    record = json.loads((tmp_path / "new" / "gate.jsonl").read_text().splitlines()[-1])
    assert record["decision"] == "apply" and record["applied"] is True
    # the decision and the study name the owner's strategy, data and results: private like the other outputs
    private = [tmp_path / "new" / "gate.jsonl", *tmp_path.glob("studies.db*")]
    assert len(private) >= 2
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in private} == {p.name: "0o600" for p in private}
    assert record["current_params"] == {"period": 7, "phase": 1}
    assert record["new_params"] == {"period": 7, "phase": 3}
    assert record["new_oos_sharpe"] > record["current_oos_sharpe"]
    assert load_params_file(current).params == {"period": 7, "phase": 3}
    # an operator action in the bot's database, with who applied it, for every running bot's audit trail
    from tradewarden.risk.account_audit import local_actor
    from tradewarden.risk.store import RiskStateStore

    store = RiskStateStore.open(None, tmp_path / "bot-data")
    [action] = store.operator_actions()
    store.close()
    assert (action.action, action.actor) == ("params_applied", local_actor())
    assert action.detail["file"] == str(current) and action.detail["params"] == {"period": 7, "phase": 3}

    # the same parameters again: no improvement, so keep
    code, out = _run([*_common(tmp_path, data_csv, strategy_file, "again"), "--mode", "grid",
                      "--grid", "period=7;phase=3", "--compare-to", str(current), "--apply"])
    assert code == 0, out
    record = json.loads((tmp_path / "again" / "gate.jsonl").read_text())
    assert record["decision"] == "keep" and record["applied"] is False


@pytest.mark.parametrize(("extra", "message"), [
    (["--strategy", "nope"], "unknown strategy 'nope'"),
    (["--mode", "grid", "--grid", "speed=1"], "no parameter 'speed'"),
    (["--grid", "fast=10"], "need --mode grid"),
    (["--holdout", "lots"], "holdout: cannot read 'lots'"),
    (["--objective", "omega"], "unknown objective 'omega'"),
    (["--in-sample", "5000", "--out-of-sample", "1000"], "do not fit"),
    (["--fix", "fats=3"], "no parameter 'fats'"),
    (["--compare-to", "missing.json"], "parameter file missing.json not found"),
    (["--from", "2021-13-01"], "not a date"),
])
def test_bad_input_is_one_clear_line_and_exit_code_2(tmp_path: Path, extra: list[str], message: str) -> None:
    args = ["--strategy", "sma_cross", "--to", "2021-03-01", "--storage", str(tmp_path / "s.db"), *extra]
    result = runner.invoke(app, ["optimize", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def _walk_forward_header(out: str) -> str:
    """The walk-forward table's header cells (rich wraps them over several lines in a narrow terminal)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "Walk-forward" in line)
    top = next(i for i in range(start, len(lines)) if lines[i].startswith("┏"))
    end = next(i for i in range(top, len(lines)) if lines[i].startswith("┡"))
    return " ".join(lines[top + 1:end])


def test_the_console_names_the_storage_counts_pruned_trials_and_shows_each_column_once(
        tmp_path: Path, data_csv: Path, strategy_file: str) -> None:
    # phase 6 with period 6 is rejected by the strategy: that trial is pruned, not scored.
    code, out = _run([*_common(tmp_path, data_csv, strategy_file, "p1"), "--mode", "grid",
                      "--grid", "period=6,7;phase=3,6"])
    assert code == 0, out
    storage = f"sqlite:///{tmp_path / 'studies.db'}"   # a plain path is an SQLite file
    assert storage in out.replace("\n", "") and "unreadable" not in out
    assert load_params_file(tmp_path / "p1" / "params.json").study.storage == storage
    assert "4 trials: 3 complete, 1 pruned" in out
    header = _walk_forward_header(out)
    assert header.count("sharpe") == 2, header                   # IS and OOS, not twice each
    html = (tmp_path / "p1" / "optimization.html").read_text()
    assert html.count("<th>IS sharpe</th>") == 1 and "1 pruned" in html


def test_a_walk_forward_on_another_objective_shows_the_sharpe_beside_it(
        tmp_path: Path, data_csv: Path, strategy_file: str) -> None:
    code, out = _run([*_common(tmp_path, data_csv, strategy_file, "o1"), "--mode", "grid",
                      "--grid", "period=7;phase=2,3", "--objective", "sortino"])
    assert code == 0, out
    header = _walk_forward_header(out)
    assert header.count("sortino") == 2 and header.count("sharpe") == 2, header
