"""What the ``tradewarden data`` commands open and parse before they work: the config (loaded as ``run`` loads
it), the candle store (a directory or a database, PostgreSQL when the config uses it), the shared Redis cache,
the exchange's settings (with an extra ccxt options file, refused when it holds credentials others can read),
the event journal, and the dates and times the commands read and print. Every bad input ends in one clear
message (:func:`tradewarden.cli.errors.fail`); heavy libraries load only when a helper runs.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradewarden.cli.errors import fail


def load_config(path: Path | None) -> Any:
    """The app config (the file if given, else ``TRADEWARDEN_CONFIG``, the environment and defaults), loaded
    as ``run`` loads it (:mod:`tradewarden.cli.state`)."""
    from tradewarden.cli.state import load_state_config

    return load_state_config(path)


def _default_data_dir() -> Path:
    from tradewarden.config import default_data_dir

    return default_data_dir(dict(os.environ))


def open_candle_store(cfg: Any, store: str | None, data_dir: Path | None) -> Any:
    from tradewarden.data.store import StoreError, open_store

    db_url = str(cfg_get(cfg, "database", "url") or "")
    # a configured PostgreSQL database is shared by every instance: keep the candles there too
    target = store or (db_url if db_url.startswith("postgresql") else None)
    directory = data_dir or cfg_get(cfg, "data_dir") or _default_data_dir()
    try:
        return open_store(target, directory)
    except StoreError as exc:
        raise fail(str(exc)) from None


def open_cache(cfg: Any, redis_url: str | None) -> Any:
    url = redis_url or cfg_get(cfg, "redis", "url")
    if not url:
        return None
    from tradewarden.data.cache import CacheError, RedisCandleCache

    try:
        return RedisCandleCache(str(url))
    except CacheError as exc:
        raise fail(str(exc)) from None


def cfg_get(cfg: Any, *names: str) -> Any:
    value = cfg
    for name in names:
        if value is None:
            return None
        value = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
    return value


def exchange_settings(cfg: Any, exchange_id: str | None, options_file: Path | None) -> Any:
    from tradewarden.data.exchange import ExchangeConfigError, ExchangeSettings, settings_from_config

    try:
        if cfg is not None:
            settings = settings_from_config(cfg, exchange_id)
        elif exchange_id:
            settings = ExchangeSettings(id=exchange_id)
        else:
            raise ExchangeConfigError("no exchange given: pass --exchange or --config")
    except ExchangeConfigError as exc:
        raise fail(str(exc)) from None
    if options_file is None:
        return settings
    from tradewarden.data.exchange import settings_from_ccxt_config

    extra = read_options_file(options_file)
    base = settings.ccxt_config()
    base.update(extra)
    merged = settings_from_ccxt_config(settings.id, base)
    return dataclasses.replace(merged, sandbox=settings.sandbox)


def read_options_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise fail(f"{path}: cannot read exchange options ({exc})") from None
    if not isinstance(data, dict):
        raise fail(f"{path}: exchange options must be a mapping of ccxt settings")
    if ({"apiKey", "secret"} & data.keys()) and path.stat().st_mode & 0o077:
        raise fail(f"{path}: holds API credentials but is readable by others; run chmod 600 {path}")
    return data


def parse_day(text: str, option: str) -> int:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} {text!r} is not a date (use YYYY-MM-DD or an ISO time)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def iso_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def progress_to(bar: Any) -> Any:
    def update(done: int, total: int) -> None:
        bar.update(done, total or 1)

    return update


def make_events(cfg: Any, data_dir: Path | None) -> Any:
    """The run's event journal if the observability package is available, else nothing."""
    try:
        from tradewarden.observability.journal import EventJournal
    except ImportError:
        return None
    directory = data_dir or cfg_get(cfg, "data_dir") or _default_data_dir()
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        return EventJournal(Path(directory) / "events.jsonl")
    except Exception:
        return None
