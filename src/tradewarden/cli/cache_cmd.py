"""``tradewarden cache keys``: the series in the shared Redis candle cache, found with SCAN.

Each series with its registry exchange, market, timeframe, candle count, newest candle and age (since its
writer last wrote it or confirmed it current, on the Redis server's clock); ``fresh`` when that age is within
``market.cache_max_age_s``, the limit trading bots apply. Redis is found through the config like every
other command's state.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tradewarden.cli.errors import fail
from tradewarden.cli.state import ConfigOpt

cache_app = typer.Typer(help="The shared Redis candle cache of the fleet's market-data instances.",
                        no_args_is_help=True)
console = Console()


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


@cache_app.command("keys")
def keys_cmd(
    exchange: Annotated[str | None, typer.Option(
        "--exchange", help="Only this registry exchange's series (`tradewarden exchanges list`).")] = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the series as JSON.")] = False,
) -> None:
    """List the cached candle series: key, count, newest candle, age, fresh."""
    from tradewarden.cli.harness_cmd import need_redis, registry_database, registry_exchange
    from tradewarden.cli.state import load_state_config
    from tradewarden.data.cache import CacheError, RedisCandleCache, redis_where
    from tradewarden.persistence.fleet_repo import list_exchanges

    cfg = load_state_config(config)
    url = need_redis(cfg, "cache keys")
    with registry_database(cfg) as db:
        slugs = {str(e.id): e.slug for e in list_exchanges(db)}
        only = registry_exchange(db, exchange).id if exchange is not None else None
    try:
        cache = RedisCandleCache(url, prefix=cfg.redis.prefix)
        try:
            now = cache.now_ms()
            rows = list(cache.scan(only))
        finally:
            cache.close()
    except CacheError as exc:
        raise fail(str(exc), 1) from None
    limit_ms = int(cfg.market.cache_max_age_s * 1000)
    out = []
    for r in rows:
        age = (now - r.updated_ms) / 1000 if r.updated_ms is not None else None
        out.append({"key": r.series.key, "exchange_id": r.series.exchange, "exchange": slugs.get(r.series.exchange),
                    "market": r.series.market, "timeframe": r.series.timeframe, "count": r.count,
                    "newest_ts": r.newest_ts, "newest": _iso(r.newest_ts), "age_s": age, "by": r.by,
                    "fresh": age is not None and age * 1000 <= limit_ms})
    if as_json:
        print(json.dumps(out, indent=2))
        return
    if not out:
        console.print(escape(f"No cached series under {cfg.redis.prefix}:"
                             f"{only if only is not None else '*'} on Redis {redis_where(url)}."))
        return
    table = Table(title=escape(f"Candle cache on Redis {redis_where(url)} (fresh: updated within "
                               f"{cfg.market.cache_max_age_s:g} s)"))
    for col in ("key", "exchange", "count", "newest (UTC)", "age", "fresh"):
        table.add_column(col)
    for row in out:
        age_s = row["age_s"]
        table.add_row(escape(str(row["key"])), escape(str(row["exchange"] or "?")), str(row["count"]),
                      str(row["newest"]), "-" if age_s is None else f"{age_s:.0f} s",
                      "[green]yes[/]" if row["fresh"] else "[red]no[/]")
    console.print(table)
