"""The one typed configuration of tradewarden and how it is built, shown and fingerprinted.

This package owns the pydantic model of every setting (``AppConfig`` and its sections, unknown keys are
errors), the loader that layers defaults, a TOML or YAML file, ``TRADEWARDEN_*`` environment variables and
``key=value`` overrides and reports every bad field at once (``ConfigError``), the rule that exchange
credentials come only from the environment or a mode-600 secrets file, the masked view that
``tradewarden config show`` prints, and the config hash: a sha256 of the settings that affect trading,
which runs record and the live gate asks the operator to confirm. Importing it is cheap (pydantic only).
"""

from tradewarden.config.errors import ConfigError
from tradewarden.config.hashing import canonical_json, config_hash, hashed_settings, masked_dump
from tradewarden.config.loader import CONFIG_ENV, load_config
from tradewarden.config.models import (
    AppConfig,
    BacktestConfig,
    DatabaseConfig,
    ExchangeConfig,
    InstrumentConfig,
    LoggingConfig,
    MarketConfig,
    RedisConfig,
    StrategyConfig,
    default_data_dir,
)
from tradewarden.config.risk import RiskConfig
from tradewarden.config.run import SIM_DEFAULT_TIMEFRAME, RunConfig, for_run, load_run_config
from tradewarden.config.secrets import read_secrets_file
from tradewarden.config.sources import ENV_PREFIX, parse_overrides

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "SIM_DEFAULT_TIMEFRAME",
    "AppConfig",
    "BacktestConfig",
    "ConfigError",
    "DatabaseConfig",
    "ExchangeConfig",
    "InstrumentConfig",
    "LoggingConfig",
    "MarketConfig",
    "RedisConfig",
    "RiskConfig",
    "RunConfig",
    "StrategyConfig",
    "canonical_json",
    "config_hash",
    "default_data_dir",
    "for_run",
    "hashed_settings",
    "load_config",
    "load_run_config",
    "masked_dump",
    "parse_overrides",
    "read_secrets_file",
]
