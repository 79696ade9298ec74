"""`tradewarden run` refuses to start, before anything starts, when the exchange or the keys are wrong for
the mode: live without a real exchange, key material in paper or shadow, half a key pair in live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.config import config_hash, load_config

KEY_VARS = ("TRADEWARDEN_EXCHANGE__API_KEY", "TRADEWARDEN_EXCHANGE__API_SECRET", "TRADEWARDEN_EXCHANGE__API_PASSWORD")


class SimulatorStarted(Exception):
    """Raised by the stand-in for the built-in simulator: a refused session must never get that far."""


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(data_dir))
    for name in ("LIVE_TRADING", "TRADEWARDEN_CONFIG", *KEY_VARS):
        monkeypatch.delenv(name, raising=False)

    def no_simulator(*args: object, **kwargs: object) -> None:
        raise SimulatorStarted("the built-in simulator was started")

    monkeypatch.setattr("tradewarden.simulator.testing.start_simulator", no_simulator)
    return data_dir


def test_live_without_an_exchange_refuses_before_anything_starts(env: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # everything else armed: the environment, the confirmed hash of this very config, a key pair
    monkeypatch.setenv("LIVE_TRADING", "YES_I_UNDERSTAND")
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", "k" * 64)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", "s" * 64)
    hash_ = config_hash(load_config(None, {"market.timeframe": "5m"}))
    out = tmp_path / "live"
    result = CliRunner().invoke(app, ["run", "--mode", "live", "--live-confirm", hash_, "--set",
                                      "market.timeframe=5m", "--out", str(out)])
    assert not isinstance(result.exception, SimulatorStarted)
    assert result.exit_code == 3, result.output
    evs = events(out)
    assert [(e["type"], e["reason"]) for e in evs] == [("LIVE_ARM_FAILED", "NO_EXCHANGE")]
    assert "exchange.id" in evs[0]["message"]
    # refused before the lock and the database: nothing was created in the data directory
    assert not env.exists() or not any(env.rglob("*.db"))


@pytest.mark.parametrize("present", [("TRADEWARDEN_EXCHANGE__API_KEY",), ("TRADEWARDEN_EXCHANGE__API_SECRET",),
                                     ("TRADEWARDEN_EXCHANGE__API_PASSWORD",)])
@pytest.mark.parametrize("mode", ["paper", "shadow"])
def test_any_key_material_in_paper_or_shadow_is_refused(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        mode: str, present: tuple[str, ...]) -> None:
    for name in present:
        monkeypatch.setenv(name, "x" * 40)
    out = tmp_path / mode
    result = CliRunner().invoke(app, ["run", "--mode", mode, "--out", str(out)])
    assert not isinstance(result.exception, SimulatorStarted)
    assert result.exit_code == 3, result.output
    failed = [e for e in events(out) if e["type"] == "LIVE_ARM_FAILED"]
    assert [e["reason"] for e in failed] == ["KEYS_IN_NON_LIVE_MODE"]
    setting = present[0].removeprefix("TRADEWARDEN_EXCHANGE__").lower()
    assert f"exchange.{setting}" in failed[0]["message"]
    assert "BOOT_SEAL" not in [e["type"] for e in events(out)]


@pytest.mark.parametrize(("present", "missing"), [("API_KEY", "api_secret"), ("API_SECRET", "api_key")])
def test_live_with_half_a_key_pair_is_refused_naming_the_missing_half(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, present: str, missing: str) -> None:
    monkeypatch.setenv("LIVE_TRADING", "YES_I_UNDERSTAND")
    monkeypatch.setenv(f"TRADEWARDEN_EXCHANGE__{present}", "x" * 40)
    hash_ = config_hash(load_config(None, {"exchange.id": "binance"}))
    out = tmp_path / "live"
    result = CliRunner().invoke(app, ["run", "--mode", "live", "--live-confirm", hash_, "--set", "exchange.id=binance",
                                      "--out", str(out)])
    assert result.exit_code == 3, result.output
    failed = [e for e in events(out) if e["type"] == "LIVE_ARM_FAILED"]
    assert [e["reason"] for e in failed] == ["KEYS_INCOMPLETE"]
    assert f"exchange.{missing}" in failed[0]["message"]
