"""load_config: defaults, TOML and YAML files, environment, overrides, their precedence and error reports."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from tradewarden.config import AppConfig, ConfigError, load_config, parse_overrides
from tradewarden.config.errors import format_validation_errors
from tradewarden.observability import scrub
from tradewarden.observability.scrub import SCRUBBER

TOML_TEXT = """
data_dir = "/tmp/tw-data"

[strategy]
name = "sma_cross"
params = { fast = 10, slow = 30 }

[market]
symbol = "ETH/USDT"
timeframe = "4h"

[backtest]
fee_taker_bps = 7.5
start = 2021-03-01
stop_loss_pct = 2.5

[risk]
max_daily_loss_pct = 2.5
"""

YAML_TEXT = """
data_dir: /tmp/tw-data
strategy:
  name: sma_cross
  params: {fast: 10, slow: 30}
market:
  symbol: ETH/USDT
  timeframe: 4h
backtest:
  fee_taker_bps: 7.5
  start: 2021-03-01
  stop_loss_pct: 2.5
risk:
  max_daily_loss_pct: 2.5
"""


@pytest.fixture(autouse=True)
def _forget_secrets() -> None:
    SCRUBBER.forget()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment() -> None:
    cfg = load_config(env={"XDG_DATA_HOME": "/srv/data"})
    assert cfg.data_dir == Path("/srv/data/tradewarden")
    assert cfg.strategy.name == "donchian" and cfg.strategy.params == {}
    assert cfg.market.symbol == "BTC/USDT" and cfg.market.timeframe == "1h" and cfg.market.data is None
    assert cfg.instrument.tick_size == Decimal("0.01") and cfg.instrument.min_notional == Decimal("5")
    assert cfg.backtest.initial_cash == Decimal(10_000) and cfg.backtest.sizing == "equity_fraction"
    assert cfg.exchange.id is None and cfg.exchange.api_key is None
    assert cfg.database_url == "sqlite:////srv/data/tradewarden/tradewarden.db"
    assert cfg.log_file == Path("/srv/data/tradewarden/logs/tradewarden.jsonl")


def test_data_dir_falls_back_to_home_share(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_config(env={}).data_dir == tmp_path / ".local" / "share" / "tradewarden"


@pytest.mark.parametrize(("name", "text"),
                         [("c.toml", TOML_TEXT), ("c.yaml", YAML_TEXT), ("c.yml", YAML_TEXT)])
def test_file_formats_read_the_same(tmp_path: Path, name: str, text: str) -> None:
    cfg = load_config(write(tmp_path, name, text), env={})
    assert cfg.strategy.name == "sma_cross"
    assert cfg.strategy.params == {"fast": 10, "slow": 30}
    assert (cfg.market.symbol, cfg.market.timeframe) == ("ETH/USDT", "4h")
    assert cfg.backtest.fee_taker_bps == Decimal("7.5")
    assert cfg.backtest.start == date(2021, 3, 1)
    assert cfg.backtest.stop_loss_pct == 2.5
    assert cfg.risk.max_daily_loss_pct == Decimal("2.5")
    assert cfg.data_dir == Path("/tmp/tw-data")


def test_toml_and_yaml_give_equal_configs(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "a.toml", TOML_TEXT), env={}) == \
        load_config(write(tmp_path, "a.yaml", YAML_TEXT), env={})


def test_precedence_file_then_environment_then_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "c.toml", TOML_TEXT)
    env = {
        "TRADEWARDEN_STRATEGY__NAME": "rsi",
        "TRADEWARDEN_MARKET__SYMBOL": "SOL/USDT",
        "TRADEWARDEN_STRATEGY__PARAMS__FAST": "12",
    }
    cfg = load_config(path, overrides={"strategy.name": "donchian", "strategy.params.slow": "40"}, env=env)
    assert cfg.strategy.name == "donchian"  # override beats environment and file
    assert cfg.market.symbol == "SOL/USDT"  # environment beats file
    assert cfg.market.timeframe == "4h"  # file beats default
    assert cfg.strategy.params == {"fast": 12, "slow": 40}  # tables merge key by key across layers
    assert cfg.backtest.fee_maker_bps == Decimal(10)  # default where nobody says otherwise


def test_environment_names_are_case_insensitive_and_nest(tmp_path: Path) -> None:
    cfg = load_config(env={"tradewarden_risk__stages__canary__max_trades_per_day": "1",
                           "TRADEWARDEN_BACKTEST__ALLOW_SHORT": "true",
                           "TRADEWARDEN_DATA_DIR": str(tmp_path)})
    assert cfg.risk.stages["canary"].max_trades_per_day == 1
    assert cfg.backtest.allow_short is True
    assert cfg.data_dir == tmp_path


def test_text_values_become_typed_values() -> None:
    cfg = load_config(env={}, overrides={
        "strategy.params.fast": "20", "strategy.params.ratio": "0.5", "strategy.params.flag": "true",
        "strategy.params.mode": "breakout", "strategy.params.quoted": '"20"',
        "backtest.fee_taker_bps": "0.1", "backtest.start": "2021-01-01", "market.timeframe": "1d",
        "backtest.stop_loss_pct": "none", "exchange.options": "{defaultType = 'spot'}",
    })
    assert cfg.strategy.params == {"fast": 20, "ratio": 0.5, "flag": True, "mode": "breakout", "quoted": "20"}
    assert type(cfg.strategy.params["fast"]) is int
    assert cfg.backtest.fee_taker_bps == Decimal("0.1")  # exact, never through a float
    assert cfg.backtest.start == date(2021, 1, 1)
    assert cfg.backtest.stop_loss_pct is None
    assert cfg.exchange.options == {"defaultType": "spot"}


def test_non_text_override_values_pass_through(tmp_path: Path) -> None:
    cfg = load_config(env={}, overrides={"market.data": tmp_path / "x.csv", "backtest.initial_cash": 500})
    assert cfg.market.data == tmp_path / "x.csv"
    assert cfg.backtest.initial_cash == Decimal(500)


def test_home_in_paths_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = load_config(env={}, overrides={"market.data": "~/candles.csv", "logging.file": "~/tw.jsonl"})
    assert cfg.market.data == tmp_path / "candles.csv"
    assert cfg.log_file == tmp_path / "tw.jsonl"


def test_config_file_named_by_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "c.toml", TOML_TEXT)
    assert load_config(env={"TRADEWARDEN_CONFIG": str(path)}).strategy.name == "sma_cross"


def test_every_bad_field_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", """
[backtest]
fee_taker_bps = -1
volume_fraction = 1.5
sizing = "kelly"
[market]
timeframe = "7m"
[strategy]
nmae = "rsi"
""")
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides={"market.symbol": "BTCUSDT", "strategy.params.fast": "[1, 2]"},
                    env={"TRADEWARDEN_INSTRUMENT__TICK_SIZE": "0"})
    errors = caught.value.errors
    by_place = {e.split(":")[0]: e for e in errors}
    assert set(by_place) == {"backtest.fee_taker_bps", "backtest.volume_fraction", "backtest.sizing",
                             "market.timeframe", "strategy.nmae", "market.symbol", "strategy.params.fast",
                             "instrument.tick_size"}
    assert by_place["backtest.fee_taker_bps"].startswith("backtest.fee_taker_bps: must be >= 0 (got -1")
    assert "must be <= 1" in by_place["backtest.volume_fraction"]
    assert "'equity_fraction'" in by_place["backtest.sizing"] and "kelly" in by_place["backtest.sizing"]
    assert "unknown timeframe" in by_place["market.timeframe"]
    assert "did you mean 'name'" in by_place["strategy.nmae"]
    assert "from TRADEWARDEN_INSTRUMENT__TICK_SIZE" in by_place["instrument.tick_size"]
    assert "from --set market.symbol" in by_place["market.symbol"]
    assert str(caught.value).startswith("invalid configuration (8 problems):")
    assert all(e in str(caught.value) for e in errors)


def test_cross_field_checks() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={}, overrides={"backtest.start": "2022-01-01", "backtest.end": "2021-01-01",
                                       "instrument.min_qty": "10", "instrument.max_qty": "1"})
    text = str(caught.value)
    assert "backtest: end (2021-01-01) must be after start (2022-01-01)" in text
    assert "instrument: min_qty (10) must not exceed max_qty (1)" in text


def test_fee_finer_than_the_fill_model_unit_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"backtest\.slippage_bps: .*2 decimal places"):
        load_config(env={}, overrides={"backtest.slippage_bps": "0.125"})


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("bad.toml", "[strategy]\nname = \n", r"bad\.toml: TOML syntax error: .*line 2"),
    ("bad.yaml", "strategy:\n  name: [rsi\n", r"bad\.yaml: line \d+, column \d+: YAML syntax error"),
    ("list.yaml", "- a\n- b\n", r"list\.yaml: the top level must be a table of settings, not a list"),
    ("c.json", "{}", r"c\.json: unsupported config file type '\.json'"),
])
def test_file_errors_name_file_and_line(tmp_path: Path, name: str, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(write(tmp_path, name, text), env={})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_empty_yaml_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "empty.yaml", ""), env={}) == load_config(env={})


def test_misspelt_environment_variable_is_an_error_unrelated_one_is_ignored() -> None:
    with pytest.raises(ConfigError, match="did you mean TRADEWARDEN_STRATEGY__NAME"):
        load_config(env={"TRADEWARDEN_STRATEGY_NAME": "rsi"})
    assert load_config(env={"TRADEWARDEN_SOMETHING_ELSE": "x"}).strategy.name == "donchian"


def test_a_key_below_a_single_value_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"cannot set a key inside market\.symbol"):
        load_config(env={}, overrides={"market.symbol": "ETH/USDT", "market.symbol.x": "1"})


def test_parse_overrides() -> None:
    assert parse_overrides(["a.b=1", "c = x=y", "d="]) == {"a.b": "1", "c": " x=y", "d": ""}
    with pytest.raises(ConfigError) as caught:
        parse_overrides(["ok=1", "novalue", "=3", "a..b=2"])
    assert len(caught.value.errors) == 3
    assert "'novalue': expected key=value" in caught.value.errors[0]


def test_secrets_in_a_config_file_are_refused_without_echo(tmp_path: Path) -> None:
    path = write(tmp_path, "c.toml", '[exchange]\nid = "binance"\napi_key = "FileKeyCanary123"\n'
                                     'api_secret = "FileSecretCanary456"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    text = str(caught.value)
    assert "exchange.api_key: secrets are not accepted from the config file" in text
    assert "exchange.api_secret" in text and "TRADEWARDEN_EXCHANGE__API_SECRET" in text
    assert "Canary" not in text


def test_secrets_on_the_command_line_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"exchange\.api_key: secrets are not accepted from the command"):
        load_config(env={}, overrides={"exchange.api_key": "CliKeyCanary789"})


def test_credentials_hidden_in_exchange_options_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"exchange\.options: credentials \(apiKey\)"):
        load_config(env={}, overrides={"exchange.options.apiKey": "abc"})


def test_secrets_from_the_environment_are_accepted_and_registered_for_scrubbing() -> None:
    key, secret = "EnvKeyCanary0123456789", "EnvSecretCanary9876543210"
    cfg = load_config(env={"TRADEWARDEN_EXCHANGE__API_KEY": key, "TRADEWARDEN_EXCHANGE__API_SECRET": secret,
                           "TRADEWARDEN_EXCHANGE__ID": "binance"})
    assert cfg.exchange.api_key is not None and cfg.exchange.api_key.get_secret_value() == key
    assert cfg.exchange.has_credentials()
    assert key not in repr(cfg) and secret not in str(cfg.exchange)
    assert scrub(f"signed with {key} and {secret}") == "signed with *** and ***"


def test_bad_secret_value_is_not_echoed() -> None:
    data = {"exchange": {"api_key": 987654321, "sandbox": "maybe"}}
    with pytest.raises(ValidationError) as caught:
        AppConfig.model_validate(data)
    lines = format_validation_errors(caught.value, data, AppConfig)
    assert lines[0] == "exchange.api_key: must be a valid string"
    assert lines[1].startswith("exchange.sandbox: ") and "(got maybe)" in lines[1]


def test_config_is_a_plain_pydantic_model() -> None:
    cfg = AppConfig()
    assert cfg.strategy.name == "donchian"
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        AppConfig.model_validate({"strategy": {"nmae": "x"}})
