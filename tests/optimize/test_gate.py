"""The re-optimization gate at and around its margin, and the recorded decision."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tradewarden.optimize.gate import gate_decision, record_decision


@pytest.mark.parametrize(("current", "new", "apply"), [
    (1.0, 1.1, True),          # exactly the 10% margin: "at least" includes it
    (1.0, 1.0999, False),      # just below the margin
    (1.0, 1.1001, True),
    (1.0, 1.05, False),        # better, but within the margin
    (1.0, 0.99, False),        # degrades
    (2.0, 2.2, True),
    (2.0, 2.19, False),
    (-1.0, -0.9, True),        # margin is relative to |current|: -1.0 needs -0.9
    (-1.0, -0.95, False),
    (0.0, 0.0, False),         # equal is never an improvement
    (0.0, 0.01, True),         # from zero any strict improvement passes
])
def test_decision_at_and_around_the_margin(current: float, new: float, apply: bool) -> None:
    d = gate_decision(current, new, 0.10)
    assert d.apply is apply
    assert d.required == pytest.approx(current + 0.10 * abs(current))


def test_degradation_is_named_and_never_applied_even_with_zero_margin() -> None:
    d = gate_decision(1.5, 1.4, 0.0)
    assert not d.apply and "degrade" in d.reason
    assert gate_decision(1.5, 1.5, 0.0).apply is False
    assert gate_decision(1.5, 1.5001, 0.0).apply is True


def test_custom_margin_and_negative_margin_rejected() -> None:
    assert gate_decision(1.0, 1.2, 0.25).apply is False
    assert gate_decision(1.0, 1.25, 0.25).apply is True
    with pytest.raises(ValueError, match="margin"):
        gate_decision(1.0, 2.0, -0.1)


def test_decision_is_recorded_as_json_lines(tmp_path: Path) -> None:
    log = tmp_path / "out" / "gate.jsonl"
    record_decision(log, gate_decision(1.0, 1.2), {"new_params": {"fast": 10}})
    record_decision(log, gate_decision(1.0, 0.5), {"new_params": {"fast": 12}})
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["decision"] for r in lines] == ["apply", "keep"]
    assert lines[0]["current_oos_sharpe"] == 1.0 and lines[0]["new_oos_sharpe"] == 1.2
    assert lines[0]["margin"] == 0.1 and lines[1]["new_params"] == {"fast": 12}


def test_the_decision_log_is_private_whatever_the_umask(tmp_path: Path) -> None:
    log = tmp_path / "gate.jsonl"
    old = os.umask(0o022)
    try:
        record_decision(log, gate_decision(1.0, 1.2), {"new_params": {"fast": 10}})
        log.chmod(0o644)  # an older file left readable is tightened on the next decision
        record_decision(log, gate_decision(1.0, 0.5), {"new_params": {"fast": 12}})
    finally:
        os.umask(old)
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    assert len(log.read_text().splitlines()) == 2
