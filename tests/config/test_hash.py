"""config_hash: what it covers, what it ignores, its stability; masked_dump."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tradewarden.config import canonical_json, config_hash, hashed_settings, load_config, masked_dump
from tradewarden.observability import scrub
from tradewarden.observability.scrub import SCRUBBER

BASE = {"strategy.name": "sma_cross", "strategy.params.fast": "10", "strategy.params.slow": "30",
        "risk": "{active_stage = 'canary', stages = {canary = {risk_per_trade_pct = 0.1}, stage1 = {}}}"}


@pytest.fixture(autouse=True)
def _forget_secrets() -> None:
    SCRUBBER.forget()


def hash_of(extra: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> str:
    return config_hash(load_config(env=env or {}, overrides={**BASE, **(extra or {})}))


def test_hash_is_sha256_of_the_canonical_trading_settings() -> None:
    cfg = load_config(env={}, overrides=BASE)
    digest = config_hash(cfg)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == hashlib.sha256(canonical_json(hashed_settings(cfg)).encode()).hexdigest()
    assert json.loads(canonical_json(hashed_settings(cfg)))["strategy"]["params"] == {"fast": 10, "slow": 30}


def test_hash_is_stable_under_key_order_and_number_spelling(tmp_path: Path) -> None:
    one = tmp_path / "one.toml"
    one.write_text('[strategy]\nname = "sma_cross"\nparams = { fast = 10, slow = 30 }\n'
                   '[backtest]\nfee_taker_bps = 10\ninitial_cash = 10000\n'
                   '[risk]\nrisk_per_trade_pct = 1\n'
                   'breakers = { drawdown = { max_drawdown_pct = 15, action = "HALTED" } }\n')
    two = tmp_path / "two.yaml"
    two.write_text("risk:\n  breakers: {drawdown: {action: HALTED, max_drawdown_pct: '15.0'}}\n"
                   "  risk_per_trade_pct: '1.00'\nbacktest:\n  initial_cash: '10000.00'\n"
                   "  fee_taker_bps: '1E+1'\nstrategy:\n  params: {slow: 30, fast: 10}\n  name: sma_cross\n")
    assert config_hash(load_config(one, env={})) == config_hash(load_config(two, env={}))


@pytest.mark.parametrize("change", [
    {"strategy.params.fast": "11"},
    {"strategy.name": "donchian"},
    {"market.symbol": "ETH/USDT"},
    {"market.timeframe": "4h"},
    {"instrument.tick_size": "0.1"},
    {"backtest.fee_taker_bps": "12"},
    {"backtest.start": "2021-01-01"},
    {"backtest.allow_short": "true"},
    {"exchange.id": "binance"},
    {"exchange.sandbox": "true"},
    {"exchange.urls": "{api = 'http://127.0.0.1:8765'}"},
    {"exchange.allow_withdrawal_keys": "true"},
    {"risk.active_stage": "stage1"},
    {"risk.risk_per_trade_pct": "0.5"},
])
def test_hash_changes_with_a_trading_setting(change: dict[str, str]) -> None:
    assert hash_of(change) != hash_of()


@pytest.mark.parametrize("change", [
    {"logging.level": "DEBUG"},
    {"logging.file": "/tmp/other.jsonl"},
    {"logging.console": "false"},
    {"data_dir": "/tmp/elsewhere"},
    {"database.url": "postgresql://localhost/test"},
    {"redis.url": "redis://127.0.0.1:6379/0"},
    {"backtest.out_dir": "/tmp/runs"},
    {"market.data": "/tmp/candles.csv"},
])
def test_hash_ignores_settings_that_do_not_affect_trading(change: dict[str, str]) -> None:
    assert hash_of(change) == hash_of()


def test_hash_ignores_credentials() -> None:
    with_keys = {"TRADEWARDEN_EXCHANGE__API_KEY": "KeyCanary0000111122",
                 "TRADEWARDEN_EXCHANGE__API_SECRET": "S" * 20}
    assert hash_of(env=with_keys) == hash_of()
    cfg = load_config(env=with_keys, overrides=BASE)
    assert "KeyCanary" not in canonical_json(hashed_settings(cfg))


def test_params_file_content_counts_not_its_place(tmp_path: Path) -> None:
    first = tmp_path / "a" / "params.toml"
    first.parent.mkdir()
    first.write_text("fast = 10\n")
    moved = tmp_path / "b.toml"
    moved.write_text("fast = 10\n")
    edited = tmp_path / "c.toml"
    edited.write_text("fast = 12\n")
    digest = hash_of({"strategy.params_file": str(first)})
    assert digest == hash_of({"strategy.params_file": str(moved)})
    assert digest != hash_of({"strategy.params_file": str(edited)})
    assert digest != hash_of()


def test_the_hash_is_never_scrubbed() -> None:
    digest = hash_of()
    assert scrub(f"config hash {digest}") == f"config hash {digest}"


def test_masked_dump_hides_credentials_and_is_json_ready() -> None:
    key = "DumpKeyCanary5551234"
    cfg = load_config(env={"TRADEWARDEN_EXCHANGE__API_KEY": key},
                      overrides={"exchange.urls": "{api = 'https://x.test/?token=UrlTokenCanary42'}"})
    dumped = masked_dump(cfg)
    text = json.dumps(dumped)
    assert dumped["exchange"]["api_key"] == "***"
    assert dumped["exchange"]["api_secret"] is None
    assert key not in text and "UrlTokenCanary42" not in text
    assert dumped["instrument"]["tick_size"] == "0.01"
    assert dumped["backtest"]["out_dir"] == "runs"
