"""Deterministic client order ids: the same strategy, symbol and candle always give the same id, so a
restarted bot can look an order up instead of sending it twice."""

from __future__ import annotations

import hashlib

#: every client order id of ours starts so: an order under this prefix that a bot did not send is another writer's
CLIENT_ID_PREFIX = "tw-"


def client_order_id(strategy: str, symbol: str, candle_ts: int, n: int) -> str:
    """``tw-<8 hex of strategy+symbol>-<candle open ms>-<n>``: at most 36 characters, as Binance allows."""
    digest = hashlib.sha1(f"{strategy}|{symbol}".encode()).hexdigest()[:8]
    return f"{CLIENT_ID_PREFIX}{digest}-{candle_ts}-{n}"
