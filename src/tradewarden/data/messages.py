"""Schemas every market-data message must satisfy before it can become a candle (pydantic).

Two layers: the raw Binance-style kline event (checked before ccxt parses it, so a frame with a missing
field or a non-numeric price is rejected instead of turning into ``None`` prices), and the unified ccxt
OHLCV row ``[ts, open, high, low, close, volume]`` for any exchange, REST or WebSocket.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

from tradewarden.domain.candles import Candle

DecimalText = Annotated[str, StringConstraints(pattern=r"^\d+(\.\d+)?$")]


class RejectedMessageError(ValueError):
    """A message that failed its schema; ``reason`` is a short human-readable explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KlineBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    t: StrictInt
    T: StrictInt
    s: str
    i: str
    o: DecimalText
    c: DecimalText
    h: DecimalText
    l: DecimalText  # noqa: E741 - Binance's field name
    v: DecimalText
    x: StrictBool


class KlineEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    e: Literal["kline"]
    E: StrictInt
    s: str
    k: KlineBody


class OhlcvRow(BaseModel):
    """One unified candle: open time aligned to the timeframe, finite positive prices, consistent range."""

    ts: StrictInt
    open: float
    high: float
    low: float
    close: float
    volume: float

    @model_validator(mode="after")
    def _consistent(self) -> OhlcvRow:
        prices = (self.open, self.high, self.low, self.close)
        if not all(math.isfinite(p) and p > 0 for p in prices):
            raise ValueError("prices must be finite and positive")
        if not (math.isfinite(self.volume) and self.volume >= 0):
            raise ValueError("volume must be finite and not negative")
        if self.low > min(self.open, self.close) or self.high < max(self.open, self.close):
            raise ValueError("high/low do not contain open and close")
        return self


def _short_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "message"
    return f"{where}: {first.get('msg', 'invalid')}"


#: Binance event types (field ``e``) a market or user stream may carry; anything else is out of schema
BINANCE_EVENTS = frozenset(
    {
        "kline",
        "trade",
        "aggTrade",
        "24hrTicker",
        "24hrMiniTicker",
        "1hTicker",
        "4hTicker",
        "1dTicker",
        "depthUpdate",
        "executionReport",
        "outboundAccountPosition",
        "balanceUpdate",
        "listStatus",
        "eventStreamTerminated",
        "externalLockUpdate",
        "serverShutdown",
        "markPriceUpdate",
    }
)


def check_raw(message: Any, binance: bool = False) -> int | None:
    """Validate a raw WebSocket frame if it is a kline event (wrapped or bare); other frames pass, except
    that with ``binance`` an event of a type Binance does not send is rejected.

    Returns the kline event's time ``E`` (the exchange clock when it sent the frame), else ``None``.
    """
    body = message.get("data", message) if isinstance(message, dict) and "stream" in message else message
    if binance and isinstance(body, dict) and "e" in body and body["e"] not in BINANCE_EVENTS:
        raise RejectedMessageError(f"unknown event type {str(body['e'])[:40]!r}")
    if isinstance(body, dict) and ("k" in body or body.get("e") == "kline"):
        try:
            return KlineEvent.model_validate(body).E
        except ValidationError as err:
            raise RejectedMessageError(f"kline event {_short_error(err)}") from None
    if not isinstance(body, dict | list):
        raise RejectedMessageError(f"not a JSON object: {str(body)[:60]!r}")
    return None


def row_to_candle(row: Any, step_ms: int) -> Candle:
    """A validated :class:`Candle` from a ccxt OHLCV row, or :class:`RejectedMessageError`."""
    if not isinstance(row, list | tuple) or len(row) < 6:
        raise RejectedMessageError(f"OHLCV row must have 6 fields, got {str(row)[:60]!r}")
    try:
        m = OhlcvRow(ts=row[0], open=row[1], high=row[2], low=row[3], close=row[4], volume=row[5])
    except ValidationError as err:
        raise RejectedMessageError(f"OHLCV row {str(row)[:80]}: {_short_error(err)}") from None
    if m.ts % step_ms:
        raise RejectedMessageError(f"OHLCV row {str(row)[:80]}: open time not aligned to {step_ms} ms")
    return Candle(m.ts, m.open, m.high, m.low, m.close, m.volume)
