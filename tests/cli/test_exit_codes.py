"""Exit codes: only bad input exits 2; an internal error exits 1 in one line, its traceback in the log."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tradewarden.cli.errors import user_errors
from tradewarden.cli.main import app
from tradewarden.config import ConfigError
from tradewarden.errors import BadInput
from tradewarden.observability import setup_logging


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "logs" / "tw.jsonl"
    setup_logging("INFO", path, console=False)
    yield path
    setup_logging("WARNING", None, console=False)  # take our handlers off the file again


def exit_code_of(exc: Exception) -> int:
    with pytest.raises(typer.Exit) as info, user_errors():
        raise exc
    return info.value.exit_code


def test_an_internal_error_exits_1_in_one_line_with_the_traceback_in_the_log(
        log_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a ValueError from inside the program is a bug, not the user's input: exit 2 would tell a supervisor
    # never to restart, and the user to fix an input that is fine
    assert exit_code_of(ValueError("exposure_bars=23 is outside 0..22")) == 1
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert "internal error: ValueError: exposure_bars=23 is outside 0..22" in err and str(log_file) in err
    logged = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert any("Traceback" in r.get("exc", "") and "exposure_bars=23" in r["exc"] for r in logged)


@pytest.mark.parametrize("exc", [FileNotFoundError("x.csv"), KeyError("k"), RuntimeError("boom")])
def test_other_unexpected_errors_exit_1(log_file: Path, exc: Exception) -> None:
    assert exit_code_of(exc) == 1


@pytest.mark.parametrize("exc", [BadInput("--duration 5x: use a number and a unit"),
                                 ConfigError(["market.timeframe: unknown timeframe"])])
def test_bad_input_exits_2(exc: Exception, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code_of(exc) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_a_bad_duration_given_to_run_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TRADEWARDEN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRADEWARDEN_LOGGING__CONSOLE", "false")
    result = CliRunner().invoke(app, ["run", "--duration", "5x", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "duration '5x': use a number and a unit" in result.output
    setup_logging("WARNING", None, console=False)
