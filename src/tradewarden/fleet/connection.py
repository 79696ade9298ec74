"""An exchange of the registry as a ccxt.pro object: its ccxt id, with the registry's URL overrides applied.

The registry's two URLs override ccxt's description of the exchange (docs/DATA.md, "Shared candle cache"):

* ``rest_url`` is an origin (``scheme://host[:port]``, optionally with a path prefix): every HTTP endpoint ccxt
  knows for the exchange keeps its path and moves there (``https://api.binance.com/api/v3`` becomes
  ``http://127.0.0.1:8765/api/v3`` for ``rest_url = http://127.0.0.1:8765``), so a testnet or the simulator
  answers every REST call;
* ``ws_url`` is the market-stream WebSocket URL itself (``ws://127.0.0.1:8765/stream/ws``) and replaces every
  WebSocket endpoint of the description.

A market-data instance serves spot markets: where ccxt's market loading can be limited to spot, it is (Binance
would otherwise also load its futures and options markets, which a simulator does not serve), and currencies
(a signed request on some exchanges) are not loaded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tradewarden.data.exchange import ExchangeConfigError, ExchangeSettings, make_exchange
from tradewarden.persistence.fleet_repo import ExchangeView


class ExchangeSetupError(ValueError):
    """The registry's exchange cannot be reached as configured; the message names the exchange and the fix."""


def _rewrite(node: Any, rest: str | None, ws: str | None) -> Any:
    if isinstance(node, dict):
        return {k: _rewrite(v, rest, ws) for k, v in node.items()}
    if isinstance(node, str):
        scheme = node.split("://", 1)[0].lower()
        if scheme in ("ws", "wss") and ws:
            return ws
        if scheme in ("http", "https") and rest:
            parts = urlsplit(node)
            return rest.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    return node


def _ws_urls(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [u for v in node.values() for u in _ws_urls(v)]
    if isinstance(node, str) and node.split("://", 1)[0].lower() in ("ws", "wss"):
        return [node]
    return []


def _check_url(exchange: ExchangeView, name: str, url: str | None, schemes: tuple[str, ...]) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme.lower() not in schemes or not parts.netloc:
        option = "--" + name.replace("_", "-")
        raise ExchangeSetupError(f"exchange {exchange.slug!r}: {name} {url!r} is not a {' or '.join(schemes)} URL; "
                                 f"fix it with `tradewarden exchanges update {exchange.slug} {option} URL`")


def _check_ccxt_id(exchange: ExchangeView) -> None:
    import ccxt
    import ccxt.pro

    cid = exchange.ccxt_id
    if not isinstance(getattr(ccxt, cid, None), type):
        raise ExchangeSetupError(f"exchange {exchange.slug!r}: ccxt knows no exchange {cid!r} (see ccxt.exchanges); "
                                 f"fix it with `tradewarden exchanges update {exchange.slug} --ccxt-id ID`")
    if not isinstance(getattr(ccxt.pro, cid, None), type):
        have = "a WebSocket URL is configured, but" if exchange.ws_url else "no WebSocket URL configured and"
        raise ExchangeSetupError(f"exchange {exchange.slug!r}: {have} ccxt has no WebSocket client for {cid!r} "
                                 f"(ccxt.pro does not implement it): a market-data instance cannot stream it")


def connect(exchange: ExchangeView, *, user_agent: str | None = None, timeout_ms: int = 10_000,
            rate_limit: bool = True) -> Any:
    """A ccxt.pro exchange object for the registry's ``exchange`` (markets not loaded yet).

    Raises :class:`ExchangeSetupError` for an exchange ccxt.pro does not implement, a malformed URL, or one with no
    WebSocket URL configured when ccxt has none either.
    """
    _check_url(exchange, "rest_url", exchange.rest_url, ("http", "https"))
    _check_url(exchange, "ws_url", exchange.ws_url, ("ws", "wss"))
    _check_ccxt_id(exchange)
    try:
        ex = make_exchange(ExchangeSettings(id=exchange.ccxt_id, enable_rate_limit=rate_limit,
                                            timeout_ms=timeout_ms), "pro")
    except ExchangeConfigError as exc:
        raise ExchangeSetupError(f"exchange {exchange.slug!r}: {exc}") from None
    for flavour in ("api", "test"):
        if isinstance(ex.urls.get(flavour), dict):
            ex.urls[flavour] = _rewrite(ex.urls[flavour], exchange.rest_url, exchange.ws_url)
    if not _ws_urls(ex.urls.get("api")) or not ex.has.get("watchOHLCV"):
        raise ExchangeSetupError(
            f"exchange {exchange.slug!r}: no WebSocket URL configured and ccxt's {exchange.ccxt_id!r} has none "
            f"for klines; set one with `tradewarden exchanges update {exchange.slug} --ws-url URL`")
    spot_only(ex)
    if user_agent:
        ex.userAgent = user_agent
    return ex


def spot_only(ex: Any) -> None:
    """Load spot markets only, and no currencies, where the exchange's ccxt options allow saying so."""
    options = ex.options
    fetch_markets = options.get("fetchMarkets")
    if isinstance(fetch_markets, dict) and isinstance(fetch_markets.get("types"), list):
        fetch_markets["types"] = ["spot"]
    for name in ("fetchCurrencies", "fetchMargins"):
        if name in options:
            options[name] = False
    if "fetchCurrencies" not in options:
        options["fetchCurrencies"] = False


def market_ids(ex: Any, symbols: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``{symbol: the exchange's market id}`` for loaded markets; raises naming the symbols it does not list."""
    unknown = [s for s in symbols if s not in ex.markets]
    if unknown:
        raise ExchangeSetupError(f"{ex.id} has no market {', '.join(unknown)} "
                               f"(it lists {len(ex.markets)} markets, e.g. {', '.join(list(ex.markets)[:5])})")
    return {s: str(ex.markets[s]["id"]) for s in symbols}


def registry_urls(exchange: ExchangeView) -> dict[str, Any] | None:
    """ccxt's ``urls`` ``api`` and ``test`` tables of ``exchange`` with the registry's overrides applied (what
    :func:`connect` does to its object), for a config (``exchange.urls``); None when the registry overrides
    nothing. Raises :class:`ExchangeSetupError` for an exchange ccxt does not know or a malformed URL."""
    if not exchange.rest_url and not exchange.ws_url:
        return None
    _check_url(exchange, "rest_url", exchange.rest_url, ("http", "https"))
    _check_url(exchange, "ws_url", exchange.ws_url, ("ws", "wss"))
    import ccxt.pro

    cls = getattr(ccxt.pro, exchange.ccxt_id, None)
    if not isinstance(cls, type):
        raise ExchangeSetupError(f"exchange {exchange.slug!r}: ccxt knows no exchange {exchange.ccxt_id!r} (see "
                                 f"ccxt.exchanges); fix it with `tradewarden exchanges update {exchange.slug} "
                                 "--ccxt-id ID`")
    urls = cls().describe().get("urls", {})  # the description only: nothing is opened or fetched
    return {flavour: _rewrite(urls[flavour], exchange.rest_url, exchange.ws_url)
            for flavour in ("api", "test") if isinstance(urls.get(flavour), dict)}
