"""Deterministic client order ids: the same strategy, symbol and candle always give the same id, so a
restarted bot can look an order up instead of sending it twice."""

from __future__ import annotations

import hashlib


def client_order_id(strategy: str, symbol: str, candle_ts: int, n: int) -> str:
    """``tw-<8 hex of strategy+symbol>-<candle open ms>-<n>``: at most 36 characters, as Binance allows."""
    digest = hashlib.sha1(f"{strategy}|{symbol}".encode()).hexdigest()[:8]
    return f"tw-{digest}-{candle_ts}-{n}"
