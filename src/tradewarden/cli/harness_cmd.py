"""``tradewarden harness --exchange SLUG``: the subscription test harness on the fleet registry.

Thin: find the config, the database and the registry's exchange as every state command does
(:mod:`tradewarden.cli.state`), run :func:`tradewarden.fleet.harness.run_harness`, store the outcomes, print.
Exit codes: 0 every test passed, 1 a test failed (or the database could not be opened), 2 bad input (no
``redis.url``, an unknown exchange slug or timeframe).
"""

from __future__ import annotations

import json
import uuid
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tradewarden.cli.errors import fail
from tradewarden.cli.state import ConfigOpt

if TYPE_CHECKING:
    from tradewarden.config import AppConfig
    from tradewarden.persistence import Database
    from tradewarden.persistence.fleet_repo import ExchangeView

console = Console()


def registry_database(cfg: AppConfig) -> AbstractContextManager[Database]:
    """The bot's database (the registry), as the fleet commands open it (:func:`~tradewarden.cli.fleet_cmd.
    open_registry`): one line and exit 1 when it cannot be opened."""
    from tradewarden.cli.fleet_cmd import open_registry

    return open_registry(cfg)


def registry_exchange(db: Database, slug: str | None) -> ExchangeView:
    """The registry's exchange ``slug``, or its default exchange; exit 2 naming the known ones if none."""
    from tradewarden.persistence.fleet_repo import RegistryError, get_exchange, list_exchanges

    try:
        if slug is not None:
            return get_exchange(db, slug)
    except RegistryError as exc:
        raise fail(str(exc)) from None
    known = list_exchanges(db)
    default = [e for e in known if e.is_default]
    if not default:
        raise fail("no --exchange given and the registry has no default exchange (known: "
                   f"{', '.join(e.slug for e in known) or 'none'})")
    return default[0]


def need_redis(cfg: AppConfig, command: str) -> str:
    if not cfg.redis.url:
        raise fail(f"{command} needs redis.url (the shared candle cache): set [redis] url in the config or "
                   "TRADEWARDEN_REDIS__URL, e.g. redis://127.0.0.1:6379/0")
    return cfg.redis.url


def harness(
    exchange: Annotated[str | None, typer.Option(
        "--exchange", help="The registry's exchange (`tradewarden exchanges list`) [default: the default one].")
    ] = None,
    symbols: Annotated[str | None, typer.Option(
        "--symbols", "--symbol", help="Comma-separated symbols, e.g. BTC/USDT,ETH/USDT [default: the config's].")
    ] = None,
    timeframe: Annotated[str | None, typer.Option(
        "--timeframe", help="Candle timeframe of the REST and WebSocket tests [default: the config's].")] = None,
    deadline_s: Annotated[float, typer.Option(
        "--deadline-s", min=0.1, help="Seconds a kline message may take to arrive.")] = 2.0,
    candles: Annotated[int | None, typer.Option(
        "--candles", min=1, help="Candles per symbol in the REST warm-up [default: market_data.warmup_candles].")
    ] = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcomes as JSON.")] = False,
) -> None:
    """Test an exchange of the fleet registry: Redis, markets, REST warm-up into Redis (counts), a WebSocket
    kline within the deadline. PASS/FAIL per test, stored for the Network page; exit 1 on any FAIL."""
    import asyncio

    from tradewarden.cli.state import load_state_config
    from tradewarden.domain.candles import timeframe_ms
    from tradewarden.fleet.harness import run_harness
    from tradewarden.persistence.instance_repo import record_harness

    cfg = load_state_config(config)
    need_redis(cfg, "harness")
    tf = timeframe or cfg.market.timeframe
    try:
        timeframe_ms(tf)
    except ValueError as exc:
        raise fail(f"--timeframe: {exc}") from None
    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else cfg.market.traded_symbols
    if not wanted:
        raise fail("--symbols is empty")
    with registry_database(cfg) as db:
        ex = registry_exchange(db, exchange)
        outcomes = asyncio.run(run_harness(cfg, ex, wanted, tf, deadline_s=deadline_s, candles=candles))
        run_id = uuid.uuid4().hex[:12]
        stored_ms = record_harness(db, ex.slug, run_id, outcomes)
    failed = [o.test for o in outcomes if not o.passed]
    if as_json:
        print(json.dumps({"exchange": ex.slug, "run_id": run_id, "ts": stored_ms, "passed": not failed,
                          "tests": [{"test": o.test, "passed": o.passed, "detail": o.detail, "counts": o.counts}
                                    for o in outcomes]}, indent=2))
    else:
        where = f" ({ex.ccxt_id}{', ' + ex.rest_url if ex.rest_url else ''})"
        table = Table(title=escape(f"Harness: {ex.slug}{where}, {', '.join(wanted)} {tf}"))
        for col in ("test", "result", "detail"):
            table.add_column(col)
        for o in outcomes:
            table.add_row(o.test, "[green]PASS[/]" if o.passed else "[red]FAIL[/]", escape(o.detail))
        console.print(table)
        verdict = "PASS" if not failed else f"FAIL ({', '.join(failed)})"
        console.print(escape(f"{ex.slug}: {verdict}, {len(outcomes) - len(failed)} of {len(outcomes)} tests "
                             f"passed; stored as harness run {run_id}"), highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)

