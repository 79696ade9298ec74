"""A :class:`~tradewarden.domain.ports.MarketDataFeed` over candles already in hand (a file, the store, a
recording), for backtests, replays and tests.

The first ``warmup`` candles of each series are history; :meth:`ReplayFeed.closed_candles` yields the rest
in order, optionally paced (``interval_s`` between candles), and :meth:`ReplayFeed.ticker` reports the
close of the last candle yielded, as a live ticker would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tradewarden.data.files import load_candles
from tradewarden.domain.candles import Candle, CandleSeries


class ReplayFeed:
    """Replays one or more :class:`CandleSeries` (keyed by symbol and timeframe)."""

    def __init__(
        self, series: CandleSeries | Iterable[CandleSeries], warmup: int = 0, interval_s: float = 0.0
    ) -> None:
        items = [series] if isinstance(series, CandleSeries) else list(series)
        if warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {warmup}")
        self._series = {(s.symbol, s.timeframe): s for s in items}
        self.warmup = warmup
        self.interval_s = interval_s
        self._last: dict[str, Candle] = {}
        self.healthy = True  # a recording never goes stale

    @classmethod
    def from_file(
        cls, path: str | Path, timeframe: str | None = None, symbol: str | None = None, warmup: int = 0
    ) -> ReplayFeed:
        return cls(load_candles(path, timeframe, symbol), warmup=warmup)

    def _get(self, symbol: str, timeframe: str) -> CandleSeries:
        try:
            return self._series[(symbol, timeframe)]
        except KeyError:
            have = ", ".join(f"{s} {t}" for s, t in self._series) or "nothing"
            raise KeyError(f"replay feed has no {symbol} {timeframe} candles (it has {have})") from None

    async def history(self, symbol: str, timeframe: str, limit: int) -> Sequence[Candle]:
        s = self._get(symbol, timeframe)[: self.warmup]
        tail = s[max(0, len(s) - limit) :]
        return [tail.candle(i) for i in range(len(tail))]

    async def closed_candles(self, symbol: str, timeframe: str) -> AsyncIterator[Candle]:
        s = self._get(symbol, timeframe)
        for i in range(self.warmup, len(s)):
            if self.interval_s:
                await asyncio.sleep(self.interval_s)
            candle = s.candle(i)
            self._last[symbol] = candle
            yield candle

    async def ticker(self, symbol: str) -> Mapping[str, Any]:
        last = self._last.get(symbol)
        if last is None:
            candidates = [s for (sym, _), s in self._series.items() if sym == symbol and self.warmup]
            if not candidates:
                raise KeyError(f"replay feed has no price for {symbol} yet")
            last = candidates[0].candle(self.warmup - 1)
        return {"symbol": symbol, "last": last.close, "close": last.close, "timestamp": last.ts}
