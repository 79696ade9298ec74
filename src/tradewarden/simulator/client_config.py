"""The ccxt config that points unmodified ccxt / ccxt.pro at a running simulator (protocol notes §1.1)."""

from __future__ import annotations

from typing import Any

#: what ``GET /_sim/info`` answers under ``simulator``: how a bot tells the simulator from an exchange
SIMULATOR_NAME = "tradewarden"


def local_urls(base_url: str) -> dict[str, Any]:
    host = base_url.removeprefix("http://")
    return {
        "public": f"http://{host}/api/v3",
        "private": f"http://{host}/api/v3",
        # the key-permissions check (GET /sapi/v1/account/apiRestrictions): without this ccxt would send the
        # signed request to api.binance.com
        "sapi": f"http://{host}/sapi/v1",
        # "/stream" in the path: ccxt.pro files updates as spot even if futures share the ids (§1.4.5)
        "ws": {"spot": f"ws://{host}/stream/ws", "ws-api": {"spot": f"ws://{host}/ws-api/v3"}},
    }


def ccxt_config(base_url: str, api_key: str, secret: str) -> dict[str, Any]:
    """Same dict for ``ccxt.binance``, ``ccxt.async_support.binance`` and ``ccxt.pro.binance``."""
    urls = local_urls(base_url)
    return {
        "apiKey": api_key,
        "secret": secret,
        "urls": {"api": urls, "test": local_urls(base_url)},
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
        "enableRateLimit": False,
    }
