"""``tradewarden data ...`` (download, list, check, import, harness: the harness on a bare ccxt exchange id).

Thin: parse options, call :mod:`tradewarden.data`, print. Heavy libraries load inside the commands.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tradewarden.cli.errors import fail

data_app = typer.Typer(
    help="Candle data: download from an exchange, import files, list and check the store.",
    no_args_is_help=True,
)
console = Console()

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="tradewarden config file (TOML/YAML), as for `run`.")]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default store lives here).")
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        "--db-url",
        help="Candle store: a directory, or a database URL such as postgresql://host/db.",
    ),
]
RedisOpt = Annotated[str | None, typer.Option("--redis-url", help="Redis URL of the shared candle cache.")]
ExchangeOptsOpt = Annotated[
    Path | None,
    typer.Option(
        "--exchange-options",
        help="YAML/JSON file of extra ccxt constructor settings (urls, options); "
        "must be mode 600 if it holds apiKey/secret.",
    ),
]


# -- shared plumbing -------------------------------------------------------------------------------------
def _load_config(path: Path | None) -> Any:
    """The app config (the file if given, else ``TRADEWARDEN_CONFIG``, the environment and defaults), loaded
    as ``run`` loads it (:mod:`tradewarden.cli.state`)."""
    from tradewarden.cli.state import load_state_config

    return load_state_config(path)


def _default_data_dir() -> Path:
    from tradewarden.config import default_data_dir

    return default_data_dir(dict(os.environ))


def _open_store(cfg: Any, store: str | None, data_dir: Path | None) -> Any:
    from tradewarden.data.store import StoreError, open_store

    db_url = str(_cfg_get(cfg, "database", "url") or "")
    # a configured PostgreSQL database is shared by every instance: keep the candles there too
    target = store or (db_url if db_url.startswith("postgresql") else None)
    directory = data_dir or _cfg_get(cfg, "data_dir") or _default_data_dir()
    try:
        return open_store(target, directory)
    except StoreError as exc:
        raise fail(str(exc)) from None


def _open_cache(cfg: Any, redis_url: str | None) -> Any:
    url = redis_url or _cfg_get(cfg, "redis", "url")
    if not url:
        return None
    from tradewarden.data.cache import CacheError, RedisCandleCache

    try:
        return RedisCandleCache(str(url))
    except CacheError as exc:
        raise fail(str(exc)) from None


def _cfg_get(cfg: Any, *names: str) -> Any:
    value = cfg
    for name in names:
        if value is None:
            return None
        value = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
    return value


def _exchange_settings(cfg: Any, exchange_id: str | None, options_file: Path | None) -> Any:
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

    extra = _read_options_file(options_file)
    base = settings.ccxt_config()
    base.update(extra)
    merged = settings_from_ccxt_config(settings.id, base)
    return dataclasses.replace(merged, sandbox=settings.sandbox)


def _read_options_file(path: Path) -> dict[str, Any]:
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


def _parse_day(text: str, option: str) -> int:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} {text!r} is not a date (use YYYY-MM-DD or an ISO time)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _progress_to(bar: Any) -> Any:
    def update(done: int, total: int) -> None:
        bar.update(done, total or 1)

    return update


def _make_events(cfg: Any, data_dir: Path | None) -> Any:
    """The run's event journal if the observability package is available, else nothing."""
    try:
        from tradewarden.observability.journal import EventJournal
    except ImportError:
        return None
    directory = data_dir or _cfg_get(cfg, "data_dir") or _default_data_dir()
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        return EventJournal(Path(directory) / "events.jsonl")
    except Exception:
        return None


# -- data download --------------------------------------------------------------------------------------
@data_app.command("download")
def download_cmd(
    symbols: Annotated[
        str, typer.Option("--symbols", "--symbol", help="Comma-separated symbols, e.g. BTC/USDT,ETH/USDT.")
    ],
    since: Annotated[str, typer.Option("--from", help="First day (UTC), e.g. 2024-01-01.")],
    exchange: Annotated[
        str | None, typer.Option("--exchange", help="ccxt exchange id, e.g. binance.")
    ] = None,
    timeframe: Annotated[str, typer.Option("--timeframe", help="Candle timeframe, e.g. 1m, 1h.")] = "1m",
    until: Annotated[str | None, typer.Option("--to", help="End (exclusive, UTC); default now.")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    exchange_options: ExchangeOptsOpt = None,
) -> None:
    """Download candle history into the store: paginated, resumable, only what is missing."""
    from tradewarden.cli.progress import delayed_progress
    from tradewarden.domain.candles import timeframe_ms

    try:
        timeframe_ms(timeframe)
    except ValueError as exc:
        raise fail(str(exc)) from None
    start = _parse_day(since, "--from")
    end = _parse_day(until, "--to") if until else None
    if end is not None and end <= start:
        raise fail("--to must be after --from")
    wanted = [s.strip() for s in symbols.split(",") if s.strip()]
    if not wanted:
        raise fail("--symbols is empty")
    cfg = _load_config(config)
    settings = _exchange_settings(cfg, exchange, exchange_options)
    candle_store = _open_store(cfg, store, data_dir)
    import ccxt

    from tradewarden.data.download import download
    from tradewarden.data.exchange import ExchangeConfigError, make_exchange
    from tradewarden.data.retry import RetryPolicy

    try:
        ex = make_exchange(settings, "sync")
    except ExchangeConfigError as exc:
        raise fail(str(exc)) from None
    events = _make_events(cfg, data_dir)
    policy = RetryPolicy(sink=events, exchange=ex)
    reports = []
    try:
        ex.load_markets()
        for symbol in wanted:
            if symbol not in ex.markets:
                raise fail(f"{settings.id} has no market {symbol!r}")
            with delayed_progress(console, f"{symbol} {timeframe}", total=1, delay=0.5) as bar:
                reports.append(
                    download(
                        ex,
                        candle_store,
                        settings.id,
                        symbol,
                        timeframe,
                        start,
                        end,
                        retry=policy,
                        progress=_progress_to(bar),
                    )
                )
    except ccxt.BaseError as exc:
        raise fail(f"{settings.id}: {type(exc).__name__}: {str(exc)[:300]}", code=1) from None
    finally:
        candle_store.close()
        if events is not None:
            events.close()
    table = Table(title=f"Downloaded from {settings.id}")
    for col in ("symbol", "timeframe", "new", "stored", "first", "last", "gaps in store", "exchange gaps"):
        table.add_column(col)
    for r in reports:
        ex_gaps = "; ".join(f"{_iso(a)}..{_iso(b)}" for a, b in r.exchange_gaps[:5]) or "none"
        if len(r.exchange_gaps) > 5:
            ex_gaps += f" (+{len(r.exchange_gaps) - 5})"
        table.add_row(
            r.symbol,
            r.timeframe,
            str(r.fetched),
            str(r.stored),
            _iso(r.first_ts),
            _iso(r.last_ts),
            f"{len(r.gaps)} ({sum(g.count for g in r.gaps)} bars)",
            ex_gaps,
        )
    console.print(table)


# -- data list / check / import -------------------------------------------------------------------------
@data_app.command("list")
def list_cmd(config: ConfigOpt = None, data_dir: DataDirOpt = None, store: StoreOpt = None) -> None:
    """Show what the store holds: symbol, timeframe, range, count, gaps."""
    candle_store = _open_store(_load_config(config), store, data_dir)
    try:
        infos = candle_store.series()
    finally:
        candle_store.close()
    if not infos:
        console.print("The candle store is empty.")
        return
    table = Table(title="Candle store")
    for col in ("exchange", "symbol", "timeframe", "first", "last", "count", "gaps", "missing"):
        table.add_column(col)
    for i in infos:
        table.add_row(
            i.exchange,
            i.symbol,
            i.timeframe,
            _iso(i.first_ts),
            _iso(i.last_ts),
            str(i.count),
            str(len(i.gaps)),
            str(i.missing),
        )
    console.print(table)


@data_app.command("check")
def check_cmd(
    path: Annotated[
        Path | None, typer.Argument(help="A candle file or folder to check instead of the store.")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
) -> None:
    """Report gaps, duplicates and bad candles (in the store, or in files); exit 1 if any are bad."""
    from tradewarden.data.check import check_files, check_store

    if path is not None:
        from tradewarden.data.files import CandleFileError

        try:
            results = check_files(path)
        except CandleFileError as exc:
            raise fail(str(exc)) from None
    else:
        candle_store = _open_store(_load_config(config), store, data_dir)
        try:
            results = check_store(candle_store)
        finally:
            candle_store.close()
    if not results:
        console.print("Nothing to check.")
        return
    table = Table(title="Candle check")
    for col in ("series", "rows", "gaps", "missing", "duplicates", "bad candles", "unsorted", "first problem"):
        table.add_column(col)
    for r in results:
        table.add_row(
            r.name,
            str(r.rows),
            str(r.gaps),
            str(r.missing),
            str(r.duplicates),
            str(r.bad),
            str(r.unsorted),
            r.first_problem or "-",
        )
    console.print(table)
    if not all(r.ok for r in results):  # any problem reported (gaps alone are not one) fails the check
        raise typer.Exit(1)


@data_app.command("import")
def import_cmd(
    path: Annotated[
        Path,
        typer.Argument(
            help="Candle file or folder (uniform CSV, Binance kline CSV/zip, freqtrade json/feather)."
        ),
    ],
    exchange: Annotated[str, typer.Option("--exchange", help="Exchange the candles come from.")] = "binance",
    symbol: Annotated[
        str | None, typer.Option("--symbol", help="Symbol, if the file name does not tell.")
    ] = None,
    timeframe: Annotated[str | None, typer.Option("--timeframe", help="Timeframe, if not inferable.")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
) -> None:
    """Import candle files into the store (all files are validated before anything is written)."""
    from tradewarden.data.files import CandleFileError
    from tradewarden.data.importers import import_files
    from tradewarden.data.store import StoreError

    candle_store = _open_store(_load_config(config), store, data_dir)
    try:
        done = import_files(candle_store, exchange, path, symbol, timeframe)
    except (CandleFileError, StoreError, ValueError) as exc:
        raise fail(str(exc)) from None
    finally:
        candle_store.close()
    table = Table(title=f"Imported into the store as {exchange}")
    for col in ("file", "symbol", "timeframe", "rows"):
        table.add_column(col)
    for d in done:
        table.add_row(d.path.name, d.symbol, d.timeframe, str(d.rows))
    console.print(table)


# -- data harness ----------------------------------------------------------------------------------------
@data_app.command("harness")
def data_harness(
    exchange: Annotated[
        str | None, typer.Option("--exchange", help="ccxt exchange id, e.g. binance.")
    ] = None,
    symbol: Annotated[str, typer.Option("--symbol", help="Market to test.")] = "BTC/USDT",
    timeframe: Annotated[str, typer.Option("--timeframe", help="Candle timeframe.")] = "1m",
    ws_deadline: Annotated[
        float, typer.Option("--ws-deadline", help="Seconds to wait for a kline message.")
    ] = 30.0,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    redis_url: RedisOpt = None,
    exchange_options: ExchangeOptsOpt = None,
) -> None:
    """Test a ccxt exchange setup without the registry: REST candles (stored/cached if configured), then a
    WebSocket kline. For an exchange of the fleet registry use `tradewarden harness --exchange SLUG`."""
    import asyncio

    from tradewarden.data.harness import run_harness

    cfg = _load_config(config)
    settings = _exchange_settings(cfg, exchange, exchange_options)
    candle_store = _open_store(cfg, store, data_dir) if (store or data_dir or config) else None
    cache = _open_cache(cfg, redis_url)
    try:
        results = asyncio.run(
            run_harness(settings, symbol, timeframe, ws_deadline, store=candle_store, cache=cache)
        )
    finally:
        if candle_store is not None:
            candle_store.close()
    table = Table(title=f"Harness: {settings.id} {symbol} {timeframe}")
    for col in ("test", "result", "detail"):
        table.add_column(col)
    for r in results:
        table.add_row(r.name, "[green]PASS[/]" if r.passed else "[red]FAIL[/]", r.detail)
    console.print(table)
    if not all(r.passed for r in results):
        raise typer.Exit(1)
