"""The typed configuration: one pydantic model per section, unknown keys rejected everywhere.

This module owns :class:`AppConfig` (the whole configuration, its cross-section rules and derived paths) and
the sections of trading, data and housekeeping; the ``notify``, ``fleet``, ``reoptimize`` and ``risk`` sections
live in their own modules beside it and are re-exported here, so ``tradewarden.config.models`` stays the one
place to import any section from.
"""

from __future__ import annotations

import os
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from tradewarden.config.fleet import FleetConfig as FleetConfig
from tradewarden.config.notify import NotifyConfig as NotifyConfig
from tradewarden.config.notify import TelegramConfig as TelegramConfig
from tradewarden.config.notify import WebhookConfig as WebhookConfig
from tradewarden.config.reoptimize import ReoptimizeConfig as ReoptimizeConfig
from tradewarden.config.risk import RiskConfig
from tradewarden.config.section import Pct as Pct
from tradewarden.config.section import Section as Section
from tradewarden.config.section import UserPath as UserPath
from tradewarden.domain.instrument import Instrument

#: exchange option names that would smuggle credentials past the environment/secrets-file rule
_CREDENTIAL_OPTION_NAMES = frozenset(
    {"apikey", "api_key", "secret", "api_secret", "password", "privatekey", "token"}
)

_SYMBOL = re.compile(r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+(:[A-Za-z0-9._-]+)?$")

ParamValue = float | int | str | bool
# the fill model's unit is 0.01 bps, so finer fees are an error rather than a silent rounding
Bps = Annotated[Decimal, Field(ge=0, decimal_places=2, allow_inf_nan=False)]


def default_data_dir(env: dict[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/tradewarden``, else ``~/.local/share/tradewarden``."""
    environ = os.environ if env is None else env
    xdg = environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "tradewarden"


class StrategyConfig(Section):
    name: str = Field("donchian", min_length=1)
    params: dict[str, ParamValue] = Field(default_factory=dict)
    params_file: UserPath | None = None
    # a portfolio's symbols may each change some parameters: {"ETH/USDT": {"fast": 12}} (over ``params``)
    per_symbol: dict[str, dict[str, ParamValue]] = Field(default_factory=dict)

    def params_for(self, symbol: str) -> dict[str, ParamValue]:
        return {**self.params, **self.per_symbol.get(symbol, {})}


class MarketConfig(Section):
    symbol: str = "BTC/USDT"  # the shorthand for a one-symbol ``symbols``
    symbols: list[str] | None = None  # a portfolio: one cash balance over these, in this order
    timeframe: str = "1h"
    data: UserPath | None = None  # None: the bundled BTC/USDT 1h sample
    # a session takes its warm-up history (and its backfills) from the shared Redis cache a market-data instance
    # keeps (docs/DATA.md, "Shared candle cache") when the cache is fresh and long enough, else from the exchange
    warmup_from_cache: bool = False
    cache_max_age_s: float = Field(30.0, gt=0, allow_inf_nan=False)  # "fresh": confirmed current this recently

    @field_validator("symbol")
    @classmethod
    def _base_quote(cls, value: str) -> str:
        if not _SYMBOL.match(value):
            raise ValueError("must look like BASE/QUOTE, e.g. BTC/USDT (or BASE/QUOTE:SETTLE)")
        return value

    @field_validator("symbols", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # "BTC/USDT,ETH/USDT" from --symbols, --set or the environment
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("symbols")
    @classmethod
    def _symbol_list(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("needs at least one symbol")
        bad = [s for s in value if not _SYMBOL.match(s)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: each must look like BASE/QUOTE, e.g. BTC/USDT")
        twice = sorted({s for s in value if value.count(s) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed twice")
        return value

    @property
    def traded_symbols(self) -> list[str]:
        """``symbols`` when set (it wins over ``symbol``), else the one ``symbol``."""
        return list(self.symbols) if self.symbols is not None else [self.symbol]

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        from tradewarden.domain.candles import TIMEFRAME_MS  # numpy behind it: import only when validating

        if value not in TIMEFRAME_MS:
            raise ValueError(f"unknown timeframe (known: {', '.join(TIMEFRAME_MS)})")
        return value


class InstrumentConfig(Section):
    tick_size: Decimal = Field(Decimal("0.01"), gt=0, allow_inf_nan=False)
    step_size: Decimal = Field(Decimal("0.00001"), gt=0, allow_inf_nan=False)
    min_qty: Decimal = Field(Decimal("0.00001"), ge=0, allow_inf_nan=False)
    max_qty: Decimal = Field(Decimal("9000"), gt=0, allow_inf_nan=False)
    min_notional: Decimal = Field(Decimal("5"), ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _qty_range(self) -> InstrumentConfig:
        if self.min_qty > self.max_qty:
            raise ValueError(f"min_qty ({self.min_qty}) must not exceed max_qty ({self.max_qty})")
        return self


class BacktestConfig(Section):
    start: date | None = None
    end: date | None = None  # the day to stop before
    initial_cash: Decimal = Field(Decimal(10_000), gt=0, allow_inf_nan=False)
    fee_taker_bps: Bps = Decimal(10)
    fee_maker_bps: Bps = Decimal(10)
    slippage_bps: Bps = Decimal(2)
    volume_fraction: float = Field(0.1, gt=0, le=1)
    sizing: Literal["equity_fraction", "fixed", "quote"] = "equity_fraction"
    equity_fraction: float = Field(0.95, gt=0, le=1)
    fixed_qty: Decimal = Field(Decimal(1), gt=0, allow_inf_nan=False)
    quote_amount: Decimal = Field(Decimal(10), gt=0, allow_inf_nan=False)  # quote per entry, sizing "quote"
    allow_short: bool = False
    stop_loss_pct: Pct | None = None
    take_profit_pct: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    trailing_stop_pct: Pct | None = None
    out_dir: UserPath = Path("runs")

    @model_validator(mode="after")
    def _period(self) -> BacktestConfig:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class ExchangeConfig(Section):
    id: str | None = None  # None: the built-in exchange simulator (paper and shadow; live refuses to start)
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    api_password: SecretStr | None = None  # the passphrase some exchanges (OKX, KuCoin) add to key and secret
    urls: dict[str, Any] | None = None  # ccxt "urls" override, e.g. {"api": {"public": ..., "private": ...}}
    options: dict[str, Any] = Field(default_factory=dict)
    sandbox: bool = False
    secrets_file: UserPath | None = None
    # live boot refuses a key that may withdraw funds (where the exchange reports it) unless this says otherwise
    allow_withdrawal_keys: bool = False
    # the fleet registry's exchange this config trades on (`tradewarden exchanges list`), for the shared candle
    # cache; unset: the registry exchange with the same ccxt id and REST URL, if exactly one matches
    registry_slug: str | None = Field(None, min_length=1)

    @field_validator("options")
    @classmethod
    def _no_credentials_in_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = sorted(k for k in value if k.lower() in _CREDENTIAL_OPTION_NAMES)
        if bad:
            raise ValueError(f"credentials ({', '.join(bad)}) belong in api_key/api_secret, "
                             "from the environment or the secrets file")
        return value

    def has_credentials(self) -> bool:
        return self.api_key is not None and self.api_secret is not None

    def key_material(self) -> tuple[str, ...]:
        """The names of the credential settings that hold a value (an empty one counts as unset)."""
        fields = (("api_key", self.api_key), ("api_secret", self.api_secret), ("api_password", self.api_password))
        return tuple(name for name, value in fields if value is not None and value.get_secret_value() != "")


class RuntimeConfig(Section):
    """How paper, shadow and live sessions run (``tradewarden run``)."""

    on_stop: Literal["cancel", "keep"] = "cancel"  # open orders on a graceful stop (protective stops stay)
    # live protective stops are stop-limit orders: the limit sits this far below the trigger so a falling market
    # still fills them (a stop-market that cannot fill worse than this)
    stop_limit_offset_pct: float = Field(0.5, ge=0, lt=50)
    reconcile_every_s: float = Field(300.0, gt=0)
    order_poll_s: float = Field(2.0, gt=0)  # live: how often open orders are looked up between candles
    daily_summary_utc: str = Field("00:05", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    warmup_bars: int | None = Field(None, gt=0)  # None: the strategy's lookback plus a margin
    kill_switch_poll_s: float = Field(1.0, gt=0)
    heartbeat_s: float = Field(60.0, gt=0)  # how often a session writes a Heartbeat event (loop, feed, worker)
    # how often a session writes its state (and heartbeat) to the database for `status` and the API; a bot whose
    # heartbeat is older than three of these reads as lost
    publish_every_s: float = Field(5.0, gt=0)
    # several symbols: how long after a bar's close the candle loop waits for every symbol's bar before the step
    # goes ahead without the missing ones (data/align.py; BarsMissing)
    align_grace_s: float = Field(5.0, ge=0)
    # the built-in exchange simulator, used when exchange.id is not set
    sim_data: UserPath | None = None  # None: the bundled BTC/USDT 1m sample
    sim_speed: float = Field(240.0, gt=0)  # simulated seconds per real second
    sim_seed: int = 1
    sim_fire_drill: bool = True  # inject a scripted set of faults (drops, stalls, 429s, 5xx, ambiguous order...)


class DatabaseConfig(Section):
    url: str | None = None  # None: SQLite file data_dir/tradewarden.db


class RedisConfig(Section):
    url: str | None = None  # None: no shared cache (market-data instances and the harness need one)
    # the first part of every candle cache key ({prefix}:{exchange id}:{market}:{timeframe}): fleets sharing one
    # Redis server keep apart with their own prefix
    prefix: str = Field("candles", pattern=r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*$")


class MarketDataConfig(Section):
    """Market-data instances (``tradewarden instance run --role market_data``) and the harness."""

    warmup_candles: int = Field(1000, ge=1, le=100_000)  # per symbol and timeframe; also the cache's length
    warmup_concurrency: int = Field(8, ge=1, le=64)  # series fetched at once (ccxt's rate limiter paces them)


class LoggingConfig(Section):
    level: str = "INFO"
    file: UserPath | None = None  # None: data_dir/logs/tradewarden.jsonl
    console: bool = True
    # the file rotates at this size, keeping this many old files (tradewarden.jsonl.1, .2, ...); either 0: never
    max_bytes: int = Field(50 * 1024 * 1024, ge=0)
    backups: int = Field(5, ge=0)

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.strip().upper()
        if upper not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return upper


class BackupConfig(Section):
    """Backups (``tradewarden backup``; a running bot on a schedule when ``every_hours`` or ``daily_utc`` is set)."""

    dir: UserPath | None = None  # None: data_dir/backups
    every_hours: float | None = Field(None, gt=0, allow_inf_nan=False)
    daily_utc: str | None = Field(None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    keep: int = Field(7, ge=1)  # archives kept after each backup, the newest

    @model_validator(mode="after")
    def _one_schedule(self) -> BackupConfig:
        if self.every_hours is not None and self.daily_utc is not None:
            raise ValueError("set every_hours or daily_utc, not both")
        return self


class ReportsConfig(Section):
    """Reports the running bot writes (docs/REPORTS.md): the daily one at ``runtime.daily_summary_utc``."""

    weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "off"] = "mon"  # "off": no weekly report


class ObservabilityConfig(Section):
    """What a running bot exposes about itself: Prometheus metrics at ``/metrics`` (docs/OPERATIONS.md)."""

    metrics_port: int | None = Field(None, ge=0, le=65535)  # None: no metrics server; 0: any free port
    # /metrics has no authentication: an address other than loopback is served only when set here explicitly
    metrics_host: str = "127.0.0.1"


class AppConfig(Section):
    """The whole configuration. Build it with :func:`tradewarden.config.load_config`."""

    data_dir: UserPath = Field(default_factory=default_data_dir)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)
    instrument: InstrumentConfig = Field(default_factory=InstrumentConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    exchange: ExchangeConfig = Field(default_factory=ExchangeConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    market_data: MarketDataConfig = Field(default_factory=MarketDataConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    backup: BackupConfig = Field(default_factory=BackupConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    fleet: FleetConfig = Field(default_factory=FleetConfig)
    reoptimize: ReoptimizeConfig = Field(default_factory=ReoptimizeConfig)

    @property
    def database_url(self) -> str:
        """The configured URL, or the SQLite file under the data directory."""
        return self.database.url or f"sqlite:///{self.data_dir / 'tradewarden.db'}"

    def trading_instrument(self) -> Instrument:
        """The instrument the config trades: ``market.symbol`` with the ``instrument`` filters."""
        base, _, quote = self.market.symbol.partition("/")
        if not base or not quote:
            raise ValueError(f"market.symbol {self.market.symbol!r} must look like BASE/QUOTE, e.g. BTC/USDT")
        i = self.instrument
        return Instrument(self.market.symbol, base, quote, i.tick_size, i.step_size, i.min_qty, i.max_qty,
                          i.min_notional)

    def trading_instruments(self) -> list[Instrument]:
        """One instrument per traded symbol (``market.symbols`` or ``market.symbol``), with the ``instrument``
        filters."""
        i = self.instrument
        out: list[Instrument] = []
        for symbol in self.market.traded_symbols:
            base, _, quote = symbol.partition("/")
            out.append(Instrument(symbol, base, quote, i.tick_size, i.step_size, i.min_qty, i.max_qty,
                                  i.min_notional))
        return out

    @model_validator(mode="after")
    def _cache_needs_redis(self) -> AppConfig:
        if self.market.warmup_from_cache and not self.redis.url:
            raise ValueError("market.warmup_from_cache needs redis.url (the shared candle cache)")
        return self

    @model_validator(mode="after")
    def _per_symbol_params_of_traded_symbols(self) -> AppConfig:
        unknown = sorted(set(self.strategy.per_symbol) - set(self.market.traded_symbols))
        if unknown:
            raise ValueError(f"strategy.per_symbol names {', '.join(unknown)}, which market.symbols does not trade")
        return self

    @model_validator(mode="after")
    def _reoptimize_replaces_a_parameter_file_of_one_symbol(self) -> AppConfig:
        if self.reoptimize.every_days is None:
            return self
        if self.strategy.params_file is None:
            raise ValueError("reoptimize.every_days needs strategy.params_file: the live parameters it is compared "
                             "with and replaces")
        if len(self.market.traded_symbols) > 1:
            raise ValueError("reoptimize.every_days works on a session of one symbol: the optimizer studies one "
                             "symbol's parameters, not a portfolio's")
        return self

    @property
    def backup_dir(self) -> Path:
        """The configured backup directory, or ``data_dir/backups``."""
        return self.backup.dir or self.data_dir / "backups"

    @property
    def log_file(self) -> Path:
        """The configured log file, or ``data_dir/logs/tradewarden.jsonl``."""
        return self.logging.file or self.data_dir / "logs" / "tradewarden.jsonl"
