"""A trading bot's side of the shared candle cache: which registry exchange its config trades on, and the cache
its feed reads warm-up history and backfills from (``market.warmup_from_cache``).

The exchange is ``exchange.registry_slug`` when set (an unknown slug refuses to start: the operator named it);
otherwise the one active registry exchange with the config's ccxt id and the same REST origin (the config's
``exchange.urls`` against the registry's ``rest_url``; neither set counts as the same). No match, or several,
is not an error: the bot warms up from the exchange as it always did, and says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from tradewarden.config.models import AppConfig
from tradewarden.data.cache import CacheError, ExchangeCache, RedisCandleCache
from tradewarden.persistence.database import Database
from tradewarden.persistence.fleet_repo import ExchangeView, RegistryError, get_exchange, list_exchanges


class CacheSetupError(ValueError):
    """``exchange.registry_slug`` names no registry exchange; the message says how to list them."""


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}" if parts.netloc else None


def _first_http(node: Any) -> str | None:
    """The REST URL a ccxt ``urls`` override points at: ``public`` first, else any http(s) URL in it."""
    if isinstance(node, Mapping):
        for key in ("api", "public"):
            if key in node:
                found = _first_http(node[key])
                if found:
                    return found
        for value in node.values():
            found = _first_http(value)
            if found:
                return found
        return None
    if isinstance(node, str) and node.lower().startswith(("http://", "https://")):
        return node
    return None


def registry_exchange(cfg: AppConfig, db: Database) -> tuple[ExchangeView | None, str]:
    """(the registry exchange ``cfg`` trades on, or None; why none)."""
    slug = cfg.exchange.registry_slug
    if slug:
        try:
            return get_exchange(db, slug), ""
        except RegistryError as exc:
            raise CacheSetupError(f"exchange.registry_slug: {exc}") from None
    if cfg.exchange.id is None:
        return None, "the built-in simulator is not in the registry"
    origin = _origin(_first_http(cfg.exchange.urls))
    same = [e for e in list_exchanges(db) if e.is_active and e.ccxt_id == cfg.exchange.id]
    matches = [e for e in same if _origin(e.rest_url) == origin]
    if len(matches) == 1:
        return matches[0], ""
    where = f" at {origin}" if origin else ""
    if not matches:
        return None, f"no active registry exchange has ccxt id {cfg.exchange.id!r}{where}"
    names = ", ".join(e.slug for e in matches)
    return None, f"several registry exchanges match ({names}); set exchange.registry_slug"


def history_cache_for(cfg: AppConfig, db: Database, markets: Mapping[str, Any],
                      say: Callable[[str], None] = print) -> ExchangeCache | None:
    """The cache a session's feed reads from, or None (``warmup_from_cache`` off, or no registry exchange).

    ``markets`` are the exchange's loaded ccxt markets (the cache names series by market id).
    """
    if not cfg.market.warmup_from_cache or not cfg.redis.url:
        return None
    exchange, why = registry_exchange(cfg, db)
    if exchange is None:
        say(f"warm-up from the exchange, not the shared cache: {why}")
        return None
    try:
        cache = RedisCandleCache(cfg.redis.url, size=cfg.market_data.warmup_candles, prefix=cfg.redis.prefix)
    except CacheError as exc:
        say(f"warm-up from the exchange, not the shared cache: {exc}")
        return None
    ids = {s: str(m["id"]) for s, m in markets.items()
           if s in cfg.market.traded_symbols and isinstance(m, Mapping) and "id" in m}
    say(f"shared candle cache: {exchange.slug} (registry id {exchange.id}) on Redis {cache.where}")
    return ExchangeCache(cache, exchange.id, ids, max_age_ms=int(cfg.market.cache_max_age_s * 1000))
