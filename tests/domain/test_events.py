"""The event catalogue: one payload type per event type, the naming rule, the docs, and every event the bot
really emits (a backtest on both engine paths, paper and shadow sessions) checked against its payload type."""

from __future__ import annotations

import ast
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, is_typeddict

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.domain.events import CATEGORIES, PAYLOADS, Category, EventType, payload_problems

REPO = Path(__file__).resolve().parents[2]
PASCAL = re.compile(r"[A-Z][a-z]+(?:[A-Z][a-z]*)*")
SCREAMING = re.compile(r"[A-Z]+(?:_[A-Z]+)*")
ENVELOPE = ("ts", "time", "type")


def screaming(value: str) -> str:
    return value if SCREAMING.fullmatch(value) else re.sub(r"(?<!^)(?=[A-Z])", "_", value).upper()


def test_every_event_type_has_a_payload_type_and_a_category() -> None:
    assert set(PAYLOADS) == set(EventType) == set(CATEGORIES)
    assert all(is_typeddict(payload) for payload in PAYLOADS.values())
    assert all(not set(ENVELOPE) & PAYLOADS[e].__annotations__.keys() for e in EventType)


@pytest.mark.parametrize("event", list(EventType))
def test_the_naming_rule_gate_records_are_screaming_snake_everything_else_pascal_case(event: EventType) -> None:
    if CATEGORIES[event] is Category.GATE:
        assert SCREAMING.fullmatch(event.value), event
    else:
        assert PASCAL.fullmatch(event.value), event
    assert event.name == screaming(event.value)  # FILL = "Fill", RUN_STARTED = "RunStarted", BOOT_SEAL = "BOOT_SEAL"


def test_events_md_documents_every_type_with_each_of_its_fields() -> None:
    rows = [line for line in (REPO / "docs" / "EVENTS.md").read_text().splitlines() if line.startswith("| `")]
    missing = []
    for event in EventType:
        row = next((r for r in rows if f"`{event.value}`" in r.split(" | ")[0]), None)
        if row is None:
            missing.append(f"{event.value}: no table row")
            continue
        missing += [f"{event.value}: field {name}" for name in PAYLOADS[event].__annotations__
                    if f"`{name}`" not in row]
    assert not missing, missing


def test_no_emit_call_names_its_type_as_a_string() -> None:
    """mypy holds the call sites to ``EventType``; this catches what mypy cannot see (a string literal passed
    where the sink is untyped) and names the file and line."""
    literal: list[str] = []
    scanned = 0
    for path in (REPO / "src" / "tradewarden").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("emit", "_emit") and node.args:
                scanned += 1
                if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    literal.append(f"{path.name}:{node.lineno}: {node.args[0].value!r}")
    assert scanned > 50  # the scan does see the emit calls
    assert literal == []


def test_the_checker_names_missing_undeclared_and_mistyped_fields() -> None:
    good: dict[str, object] = {"client_id": "c1", "symbol": "BTC/USDT", "reason": "cancelled"}
    assert payload_problems(EventType.ORDER_CANCELLED, good) == []
    assert payload_problems("OrderCancelled", {**good, "extra": 1}) == ["OrderCancelled: undeclared field 'extra'"]
    assert payload_problems(EventType.ORDER_CANCELLED, {"client_id": "c1", "symbol": "BTC/USDT"}) \
        == ["OrderCancelled: missing field 'reason'"]
    assert payload_problems(EventType.ORDER_CANCELLED, {**good, "reason": 3}) \
        == ["OrderCancelled: field 'reason' = 3 is not <class 'str'>"]
    assert payload_problems("Nonsense", {}) == ["'Nonsense' is not an EventType"]
    fill = {"client_id": "c", "symbol": "BTC/USDT", "side": "buy", "qty": Decimal("0.1"), "price": "30000.5",
            "fee": Decimal(0), "liquidity": "taker", "reason": "order"}
    assert payload_problems(EventType.FILL, fill) == []  # a Decimal or its exact text
    assert payload_problems(EventType.FILL, {**fill, "price": 30000.5}) != []  # never a float
    assert payload_problems(EventType.FILL, {**fill, "fee_base": "0.0001"}) == []  # optional field
    assert payload_problems(EventType.CANDLE_BACKFILLED, {"exchange": "x", "symbol": "s", "timeframe": "1h",
                                                          "count": True, "first_ts": 1, "last_ts": 2}) != []


def journal_problems(run_dir: Path) -> tuple[list[str], list[dict[str, Any]]]:
    records = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    problems = [f"line {n}: {p}" for n, r in enumerate(records, start=1)
                for p in payload_problems(r["type"], {k: v for k, v in r.items() if k not in ENVELOPE})]
    return problems, records


@pytest.mark.parametrize("path_args", [[], ["--per-candle"], ["--risk-config", "RISK"]], ids=["batch", "per_candle",
                                                                                               "with_risk"])
def test_a_backtests_events_match_their_payload_types(tmp_path: Path, path_args: list[str]) -> None:
    risk = tmp_path / "risk.toml"
    risk.write_text("risk_per_trade_pct = 1.0\nmax_daily_loss_pct = 1.0\n[breakers.drawdown]\nmax_drawdown_pct = 10\n")
    args = [str(risk) if a == "RISK" else a for a in path_args]
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["backtest", "--from", "2022-01-01", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    problems, records = journal_problems(out)
    assert problems == []
    types = {r["type"] for r in records}
    assert {"RunStarted", "OrderPlaced", "Fill", "PositionClosed", "RunFinished"} <= types
    if path_args and path_args[0] == "--risk-config":
        assert {"OrderDenied", "CircuitBreakerTripped", "TradingStateChanged"} <= types
    # the rule's other half: a backtest never emits a safety-gate record
    assert not [t for t in types if CATEGORIES[EventType(t)] is Category.GATE]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["paper", "shadow"])
def test_a_sessions_events_against_the_simulator_match_their_payload_types(
        mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(tmp_path / "data"))
    for name in ("LIVE_TRADING", "TRADEWARDEN_EXCHANGE__API_KEY", "TRADEWARDEN_EXCHANGE__API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / mode
    result = CliRunner().invoke(app, [
        "run", "--mode", mode, "--duration", "6h", "--out", str(out), "--set", "runtime.sim_speed=3000",
        "--set", "runtime.sim_fire_drill=false", "--set", "strategy.name=sma_cross",
        "--set", "strategy.params.fast=3", "--set", "strategy.params.slow=8"])
    assert result.exit_code == 0, result.output
    problems, records = journal_problems(out)
    assert problems == []
    types = {r["type"] for r in records}
    assert {"BOOT_SEAL", "SAFETY_CHECKS", "WarmUpDone", "RunFinished"} <= types
    assert ("SHADOW_ORDER" in types) if mode == "shadow" else ("Fill" in types)
