"""One symbol's replayed market: candles, the candle in progress, last price, bid/ask, klines, 24h stats."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np

from tradewarden.domain.candles import CandleSeries
from tradewarden.domain.instrument import Instrument
from tradewarden.simulator.numbers import from_float, to_grid
from tradewarden.simulator.pricing import CandleBar, CandleStats, PathStep, path_stats, price_path

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Kline:
    """A kline as Binance reports it (one window of one interval), closed or still building."""

    t: int
    T: int
    o: Decimal
    h: Decimal
    low: Decimal
    c: Decimal
    v: Decimal
    q: Decimal
    n: int
    V: Decimal
    Q: Decimal
    f: int
    L: int
    closed: bool

    def merge(self, later: Kline) -> Kline:
        return Kline(
            self.t,
            later.T,
            self.o,
            max(self.h, later.h),
            min(self.low, later.low),
            later.c,
            self.v + later.v,
            self.q + later.q,
            self.n + later.n,
            self.V + later.V,
            self.Q + later.Q,
            self.f if self.n else later.f,
            later.L if later.n else self.L,
            later.closed,
        )


@dataclass(frozen=True, slots=True)
class Trade:
    id: int
    price: Decimal
    qty: Decimal
    time: int
    buyer_is_maker: bool


@dataclass(frozen=True, slots=True)
class Ticker24h:
    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    last_qty: Decimal
    prev_close: Decimal
    volume: Decimal
    quote_volume: Decimal
    open_time: int
    close_time: int
    first_id: int
    last_id: int
    count: int


#: candles whose bar and statistics are kept per symbol at least (the rest are derived again from the data's
#: arrays when asked for): the recent ones a session asks for (its warm-up history, a feed's catch-up). The cache
#: also covers a day of candles, the 24h ticker's window (1441 of 1m), up to four times this. ~0.7 kB a candle
BARS_CACHED = 512
#: candles whose price path is kept per symbol: the one in progress and the last few (a closed candle's kline
#: needs only its statistics, which are cached with the bars)
PATHS_CACHED = 16


def bars_cached(tf_ms: int) -> int:
    """How many candles' bars and statistics a market of ``tf_ms`` candles keeps."""
    return min(max(BARS_CACHED, DAY_MS // tf_ms + 1), 4 * BARS_CACHED)


class SymbolMarket:
    """Replay state for one symbol; the clock calls :meth:`open_candle`, :meth:`apply_step`, :meth:`close`."""

    def __init__(
        self,
        instrument: Instrument,
        series: CandleSeries,
        scale: Decimal,
        seed: int,
        ticks: int,
        spread_bps: Decimal,
        tf_ms: int,
    ) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.market_id = f"{instrument.base}{instrument.quote}"
        self.stream_id = self.market_id.lower()
        self.ts = series.ts
        self._cols = (series.open, series.high, series.low, series.close, series.volume)
        self.scale = scale
        self.seed = seed
        self.ticks = ticks
        self.tf_ms = tf_ms
        self.tick_ms = tf_ms // ticks
        self.half_spread = spread_bps / Decimal(20000)
        # caches of what is derived (deterministically) per candle: bounded, or a session of weeks over many
        # symbols grows by the bars it has seen (a path is ``ticks`` steps of Decimals, ~5 kB)
        self._bars: OrderedDict[int, CandleBar] = OrderedDict()
        self._paths: OrderedDict[int, list[PathStep]] = OrderedDict()
        self._stats: OrderedDict[int, CandleStats] = OrderedDict()
        self._window_cache: tuple[tuple[int, int], Kline | None] | None = None
        self._bars_cached = bars_cached(tf_ms)
        self.visible = 0  # candles that have opened so far (closed ones plus the one in progress)
        self.current: int | None = None  # index of the candle in progress, None in a data gap
        self.path: list[PathStep] = []
        self.live: Kline | None = None
        self.last_price = Decimal(0)
        self.last_qty = Decimal(0)
        self.bid = self.ask = Decimal(0)
        self.book_update_id = 0

    # -- data ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ts)

    def index_of(self, open_ms: int) -> int | None:
        i = int(np.searchsorted(self.ts, open_ms))
        return i if i < len(self.ts) and int(self.ts[i]) == open_ms else None

    def bar(self, i: int) -> CandleBar:
        bar = self._bars.get(i)
        if bar is None:
            inst = self.instrument
            o, h, lo, c, v = (from_float(col[i]) for col in self._cols)
            if self.scale != 1:
                o, h, lo, c, v = (
                    o * self.scale,
                    h * self.scale,
                    lo * self.scale,
                    c * self.scale,
                    v / self.scale,
                )
            tick, step = inst.tick_size, inst.step_size
            bar = CandleBar(
                int(self.ts[i]),
                to_grid(o, tick),
                to_grid(h, tick),
                to_grid(lo, tick),
                to_grid(c, tick),
                to_grid(v, step, "down"),
            )
            self._bars[i] = bar
            if len(self._bars) > self._bars_cached:
                self._bars.popitem(last=False)
        return bar

    def path_of(self, i: int) -> list[PathStep]:
        path = self._paths.get(i)
        if path is None:
            path = price_path(
                self.bar(i),
                self.ticks,
                self.seed,
                self.symbol,
                self.instrument.tick_size,
                self.instrument.step_size,
            )
            self._paths[i] = path
            if len(self._paths) > PATHS_CACHED:
                self._paths.popitem(last=False)
        return path

    def _stats_of(self, i: int) -> CandleStats:
        stats = self._stats.get(i)
        if stats is None:
            stats = path_stats(self.path_of(i))
            self._stats[i] = stats
            if len(self._stats) > self._bars_cached:
                self._stats.popitem(last=False)
        return stats

    def trade_id(self, i: int, j: int) -> int:
        """Trade ids follow from the candle and step, so history and the live tape agree and runs repeat."""
        return i * self.ticks + j + 1

    def closed_kline(self, i: int) -> Kline:
        bar, stats = self.bar(i), self._stats_of(i)
        first = self.trade_id(i, stats.first_step) if stats.first_step >= 0 else -1
        last = self.trade_id(i, stats.last_step) if stats.last_step >= 0 else -1
        return Kline(
            bar.ts,
            bar.ts + self.tf_ms - 1,
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            bar.volume,
            stats.quote_volume,
            stats.trades,
            stats.taker_buy_base,
            stats.taker_buy_quote,
            first,
            last,
            True,
        )

    def _kline_of(self, i: int) -> Kline:
        if i == self.current and self.live is not None:
            return self.live
        return self.closed_kline(i)

    # -- live replay ---------------------------------------------------------------------------
    def open_candle(self, i: int) -> None:
        self.current = i
        self.visible = i + 1
        self.path = self.path_of(i)
        self.live = None

    def apply_step(self, j: int, time_ms: int) -> Trade | None:
        """Move the candle in progress to step ``j``; the trade it prints, if any volume trades there."""
        assert self.current is not None
        step = self.path[j]
        i, price = self.current, step.price
        tid = self.trade_id(i, j)
        traded = step.qty > 0
        quote = price * step.qty
        taker = not step.buyer_is_maker
        if self.live is None:
            bar = self.bar(i)
            self.live = Kline(
                bar.ts,
                bar.ts + self.tf_ms - 1,
                price,
                price,
                price,
                price,
                step.qty,
                quote,
                int(traded),
                step.qty if taker else Decimal(0),
                quote if taker else Decimal(0),
                tid if traded else -1,
                tid if traded else -1,
                False,
            )
        else:
            lv = self.live
            self.live = replace(
                lv,
                h=max(lv.h, price),
                low=min(lv.low, price),
                c=price,
                v=lv.v + step.qty,
                q=lv.q + quote,
                n=lv.n + int(traded),
                V=lv.V + (step.qty if taker else 0),
                Q=lv.Q + (quote if taker else 0),
                f=lv.f if lv.f != -1 or not traded else tid,
                L=tid if traded else lv.L,
            )
        self.last_price = price
        self._quote_book(price)
        if not traded:
            return None
        self.last_qty = step.qty
        return Trade(tid, price, step.qty, time_ms, step.buyer_is_maker)

    def close(self) -> Kline | None:
        """Close the candle in progress; the final kline (``x: true``), equal to the data candle."""
        if self.current is None or self.live is None:
            self.current = None
            return None
        final = replace(self.live, closed=True)
        self.current, self.live = None, None
        return final

    def _quote_book(self, price: Decimal) -> None:
        tick = self.instrument.tick_size
        bid = to_grid(price * (1 - self.half_spread), tick, "down")
        ask = to_grid(price * (1 + self.half_spread), tick, "up")
        if self.half_spread and ask == bid:
            ask += tick
        self.bid, self.ask = max(bid, tick), ask
        self.book_update_id += 1

    def step_capacity(self, share: Decimal) -> Decimal:
        """How much one order may fill in the candle in progress (a share of its volume)."""
        if self.current is None:
            return Decimal(0)
        return to_grid(self.bar(self.current).volume * share, self.instrument.step_size, "down")

    # -- queries -------------------------------------------------------------------------------
    def closed_bars(self) -> list[CandleBar]:
        closed = self.visible - (1 if self.current is not None else 0)
        return [self.bar(i) for i in range(closed)]

    def klines(
        self, interval_ms: int, start: int | None, end: int | None, limit: int, now_ms: int
    ) -> list[Kline]:
        """Klines up to the simulated now (the last one may be still open), Binance's selection rules."""
        vis = self.visible
        if vis == 0:
            return []
        windows = self.ts[:vis] // interval_ms * interval_ms
        keys, firsts = np.unique(windows, return_index=True)
        bounds = [*list(firsts), vis]
        chosen = range(len(keys))
        if start is not None:
            chosen = range(int(np.searchsorted(keys, start)), len(keys))
        if end is not None:
            chosen = range(chosen.start, min(chosen.stop, int(np.searchsorted(keys, end, side="right"))))
        picked = list(chosen)[:limit] if start is not None else list(chosen)[-limit:]
        out = []
        for w in picked:
            lo, hi = int(bounds[w]), int(bounds[w + 1])
            k = self._kline_of(lo)
            for i in range(lo + 1, hi):
                k = k.merge(self._kline_of(i))
            t = int(keys[w])
            out.append(replace(k, t=t, T=t + interval_ms - 1, closed=t + interval_ms <= now_ms))
        return out

    def current_window(self, interval_ms: int, now_ms: int) -> Kline | None:
        """The kline of ``interval_ms`` that contains the simulated now (for kline streams)."""
        rows = self.klines(interval_ms, None, None, 1, now_ms)
        return rows[-1] if rows else None

    def ticker(self, now_ms: int) -> Ticker24h:
        vis = self.visible
        lo = int(np.searchsorted(self.ts[:vis], now_ms - DAY_MS + 1))
        closed_hi = vis - (1 if self.current is not None else 0)
        key = (lo, closed_hi)
        if self._window_cache is None or self._window_cache[0] != key:
            agg: Kline | None = None
            for i in range(lo, closed_hi):
                agg = self.closed_kline(i) if agg is None else agg.merge(self.closed_kline(i))
            self._window_cache = (key, agg)
        window = self._window_cache[1]
        if self.current is not None and self.live is not None:
            window = self.live if window is None else window.merge(self.live)
        prev = self.bar(lo - 1).close if lo > 0 else Decimal(0)
        if window is None:
            last = self.last_price
            return Ticker24h(
                last,
                last,
                last,
                last,
                Decimal(0),
                prev,
                Decimal(0),
                Decimal(0),
                now_ms - DAY_MS,
                now_ms,
                -1,
                -1,
                0,
            )
        return Ticker24h(
            window.o,
            window.h,
            window.low,
            self.last_price,
            self.last_qty,
            prev,
            window.v,
            window.q,
            window.t,
            now_ms,
            window.f,
            window.L,
            window.n,
        )
