"""The REST warm-up of a market-data instance (and of the harness): every symbol × timeframe fetched into the
shared cache and the candle store, several series at once, with progress.

Concurrency is bounded (``concurrency`` series in flight) and every request still goes through ccxt's rate
limiter (``enableRateLimit``) and the feed's retry policy, so a wide warm-up never exceeds what the exchange
allows; the bound only keeps the number of open requests and buffered pages small. Progress counts a symbol
done when all its timeframes are, and candles done of the total asked; a series the exchange has fewer
candles for (a young market) lowers the total by what it lacks, so a finished warm-up reads 100 %.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tradewarden.data.cache import ExchangeCache
from tradewarden.data.feed_ccxt import CcxtFeed
from tradewarden.data.store import CandleStore
from tradewarden.domain.candles import Candle, CandleSeries
from tradewarden.persistence.fleet_repo import WarmupProgress

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SeriesWarmed:
    symbol: str
    timeframe: str
    fetched: int   # closed candles the exchange returned
    cached: int    # candles the cache holds for the series afterwards
    last_ts: int | None  # open time of the newest, where the stream takes over


class StoreWriter:
    """Candles to the candle store, off the event loop: buffered per series, written by a worker thread.

    The store is a second copy (the cache serves readers), so a failed write is logged and dropped, never
    allowed to stop the instance; ``data download`` fills any hole later.
    """

    def __init__(self, store: CandleStore, exchange: str) -> None:
        self.store = store
        self.exchange = exchange
        self._buffer: dict[tuple[str, str], list[Candle]] = {}
        self._lock = asyncio.Lock()
        self.written = 0
        self.failures = 0

    def add(self, symbol: str, timeframe: str, candles: Sequence[Candle]) -> None:
        if candles:
            self._buffer.setdefault((symbol, timeframe), []).extend(candles)

    def _write(self, batch: dict[tuple[str, str], list[Candle]]) -> int:
        series = [CandleSeries.from_candles(candles, symbol, timeframe)
                  for (symbol, timeframe), candles in batch.items()]
        try:
            return self.store.write_many(self.exchange, series)
        except Exception as exc:  # a full disk or a lost database must not stop the cache's writer
            self.failures += 1
            log.warning("candle store: cannot write %d series of %s: %s", len(series), self.exchange, exc)
            return 0

    async def flush(self) -> None:
        async with self._lock:  # one writer thread at a time: the store's per-series lock does the rest
            batch, self._buffer = self._buffer, {}
            if batch:
                self.written += await asyncio.to_thread(self._write, batch)

    async def run(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            await self.flush()


class WarmUp:
    """Fetch ``candles`` closed candles of every symbol × timeframe over REST into the cache (and the store)."""

    def __init__(self, feed: CcxtFeed, cache: ExchangeCache, symbols: Sequence[str], timeframes: Sequence[str],
                 *, candles: int, concurrency: int, store: StoreWriter | None = None,
                 progress: Callable[[WarmupProgress], None] | None = None) -> None:
        self.feed = feed
        self.cache = cache
        self.symbols = list(symbols)
        self.timeframes = list(timeframes)
        self.candles = candles
        self.store = store
        self.report = progress
        self._slots = asyncio.Semaphore(concurrency)
        self._left = {s: len(self.timeframes) for s in self.symbols}
        self.progress = WarmupProgress(0, len(self.symbols), 0, len(self.symbols) * len(self.timeframes) * candles)

    def _advance(self, symbol: str, got: int) -> None:
        p = self.progress
        self._left[symbol] -= 1
        self.progress = WarmupProgress(p.symbols_done + (self._left[symbol] == 0), p.symbols_total,
                                       p.candles_done + min(got, self.candles),
                                       p.candles_total - max(0, self.candles - got))
        if self.report is not None:
            self.report(self.progress)

    async def _one(self, symbol: str, timeframe: str) -> SeriesWarmed:
        async with self._slots:
            candles = list(await self.feed.history(symbol, timeframe, self.candles))
            # the cache write is one round trip; a thousand candles take a few milliseconds
            self.cache.put(symbol, timeframe, candles)
            cached = self.cache.cache.status(self.cache.exchange, self.cache.market(symbol), timeframe).count
            if self.store is not None:
                self.store.add(symbol, timeframe, candles)
        self._advance(symbol, len(candles))
        return SeriesWarmed(symbol, timeframe, len(candles), cached, candles[-1].ts if candles else None)

    async def run(self) -> list[SeriesWarmed]:
        """Every series, in symbol order; the first failure cancels the rest and is raised."""
        if self.report is not None:
            self.report(self.progress)
        tasks = [asyncio.create_task(self._one(s, tf)) for s in self.symbols for tf in self.timeframes]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
