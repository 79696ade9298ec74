"""``tradewarden data ...`` (download, list, check, import, harness: the harness on a bare ccxt exchange id).

Thin: parse options, call :mod:`tradewarden.data`, print. Heavy libraries load inside the commands; opening the
config, store, cache and exchange settings is :mod:`tradewarden.cli.data_access`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tradewarden.cli.data_access import (
    exchange_settings,
    iso_time,
    load_config,
    make_events,
    open_cache,
    open_candle_store,
    parse_day,
    progress_to,
)
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
    start = parse_day(since, "--from")
    end = parse_day(until, "--to") if until else None
    if end is not None and end <= start:
        raise fail("--to must be after --from")
    wanted = [s.strip() for s in symbols.split(",") if s.strip()]
    if not wanted:
        raise fail("--symbols is empty")
    cfg = load_config(config)
    settings = exchange_settings(cfg, exchange, exchange_options)
    candle_store = open_candle_store(cfg, store, data_dir)
    import ccxt

    from tradewarden.data.download import download
    from tradewarden.data.exchange import ExchangeConfigError, make_exchange
    from tradewarden.data.retry import RetryPolicy

    try:
        ex = make_exchange(settings, "sync")
    except ExchangeConfigError as exc:
        raise fail(str(exc)) from None
    events = make_events(cfg, data_dir)
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
                        progress=progress_to(bar),
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
        ex_gaps = "; ".join(f"{iso_time(a)}..{iso_time(b)}" for a, b in r.exchange_gaps[:5]) or "none"
        if len(r.exchange_gaps) > 5:
            ex_gaps += f" (+{len(r.exchange_gaps) - 5})"
        table.add_row(
            r.symbol,
            r.timeframe,
            str(r.fetched),
            str(r.stored),
            iso_time(r.first_ts),
            iso_time(r.last_ts),
            f"{len(r.gaps)} ({sum(g.count for g in r.gaps)} bars)",
            ex_gaps,
        )
    console.print(table)


# -- data list / check / import -------------------------------------------------------------------------
@data_app.command("list")
def list_cmd(config: ConfigOpt = None, data_dir: DataDirOpt = None, store: StoreOpt = None) -> None:
    """Show what the store holds: symbol, timeframe, range, count, gaps."""
    candle_store = open_candle_store(load_config(config), store, data_dir)
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
            iso_time(i.first_ts),
            iso_time(i.last_ts),
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
        candle_store = open_candle_store(load_config(config), store, data_dir)
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

    candle_store = open_candle_store(load_config(config), store, data_dir)
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

    cfg = load_config(config)
    settings = exchange_settings(cfg, exchange, exchange_options)
    candle_store = open_candle_store(cfg, store, data_dir) if (store or data_dir or config) else None
    cache = open_cache(cfg, redis_url)
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
