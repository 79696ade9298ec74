"""The simulated exchange without any I/O: markets, clock, account and matching engine.

The server (or a test) drives it: ``advance_to``/``step`` move the simulated clock over the intra-candle
price steps, and a listener receives every market and user data event in order. Everything here is
deterministic: the same config and the same calls give the same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tradewarden.data import CandleFileError, load_candles, resample, sample_path
from tradewarden.data.sources import load_market
from tradewarden.domain.candles import CandleSeries, timeframe_ms
from tradewarden.domain.instrument import Instrument
from tradewarden.simulator.account import Account
from tradewarden.simulator.config import SimConfig
from tradewarden.simulator.errors import SimConfigError
from tradewarden.simulator.market import Kline, SymbolMarket, Trade
from tradewarden.simulator.matching import MatchingEngine
from tradewarden.simulator.pricing import CandleBar
from tradewarden.simulator.symbols import spot_instrument


class ExchangeListener(Protocol):
    def on_step(self, market: SymbolMarket, trade: Trade | None, now_ms: int) -> None: ...
    def on_close(self, market: SymbolMarket, kline: Kline, now_ms: int) -> None: ...
    def on_user_event(self, event: dict[str, Any]) -> None: ...
    def on_clock(self, now_ms: int) -> None: ...


class NullListener:
    def on_step(self, market: SymbolMarket, trade: Trade | None, now_ms: int) -> None:
        return None

    def on_close(self, market: SymbolMarket, kline: Kline, now_ms: int) -> None:
        return None

    def on_user_event(self, event: dict[str, Any]) -> None:
        return None

    def on_clock(self, now_ms: int) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ClosedCandle:
    """A candle the simulator closed, with its symbol (``BTC/USDT``)."""

    symbol: str
    bar: CandleBar


class EndOfDataError(Exception):
    """The clock reached the end of the replayed candles."""


def load_series(config: SimConfig) -> list[tuple[Instrument, CandleSeries, Decimal]]:
    """Candles per symbol: from a directory one file set per symbol; from one file, reused with a price scale.

    With one file and several symbols, the file's own symbol (or the first one) replays it unscaled and
    the n-th other symbol replays the same candles with prices times ``1 + n/100`` (volume divided by the
    same), which keeps every series realistic and distinct enough to tell apart.
    """
    path = Path(config.data) if config.data is not None else sample_path()
    out: list[tuple[Instrument, CandleSeries, Decimal]] = []
    try:
        if path.is_dir():
            for sym in config.symbols:
                # a directory may hold a symbol at several timeframes: read the one asked for (or make it)
                series = (load_market(path, sym, config.timeframe) if config.timeframe
                          else load_candles(path, None, sym))
                out.append((spot_instrument(sym), series, Decimal(1)))
        else:
            series = load_candles(path)
            own = series.symbol if series.symbol in config.symbols else config.symbols[0]
            n = 0
            for sym in config.symbols:
                scale = Decimal(1)
                if sym != own:
                    n += 1
                    scale = 1 + Decimal(n) / 100
                out.append((spot_instrument(sym), series, scale))
    except CandleFileError as exc:
        raise SimConfigError(f"data: {exc}") from None
    if config.timeframe is not None:
        try:
            target = timeframe_ms(config.timeframe)
            out = [
                (i, s if timeframe_ms(s.timeframe) == target else resample(s, config.timeframe), sc)
                for i, s, sc in out
            ]
        except ValueError as exc:
            raise SimConfigError(f"timeframe: {exc}") from None
    tfs = {s.timeframe for _, s, _ in out}
    if len(tfs) != 1:
        raise SimConfigError(f"data: symbols have different timeframes {sorted(tfs)}; pass --timeframe")
    for inst, series, _ in out:
        if len(series) <= config.start_index:
            raise SimConfigError(
                f"start_index: {inst.symbol} has only {len(series)} candles in {path}, "
                f"need more than {config.start_index}"
            )
    return out


class Exchange:
    def __init__(self, config: SimConfig, listener: ExchangeListener | None = None) -> None:
        self.config = config
        self.listener: ExchangeListener = listener or NullListener()
        loaded = load_series(config)
        self.timeframe = loaded[0][1].timeframe
        self.tf_ms = timeframe_ms(self.timeframe)
        if self.tf_ms % config.ticks_per_candle:
            raise SimConfigError(
                f"ticks_per_candle: {config.ticks_per_candle} does not divide {self.timeframe}"
            )
        self.tick_ms = self.tf_ms // config.ticks_per_candle
        self.markets: dict[str, SymbolMarket] = {}
        for inst, series, scale in loaded:
            m = SymbolMarket(
                inst, series, scale, config.seed, config.ticks_per_candle, config.spread_bps, self.tf_ms
            )
            self.markets[m.market_id] = m
        self.by_symbol = {m.symbol: m for m in self.markets.values()}
        first = loaded[0][1]
        self.start_ms = int(first.ts[config.start_index])
        self.end_ms = max(int(m.ts[-1]) for m in self.markets.values()) + self.tf_ms
        self.now_ms = self.start_ms
        self.next_tick = self.start_ms
        self.account = Account(config.balances)
        self.engine = MatchingEngine(
            self.markets,
            self.account,
            config.fee_rate,
            config.volume_share,
            lambda: self.now_ms,
            self._user_event,
        )
        self.started = False

    def _user_event(self, event: dict[str, Any]) -> None:
        self.listener.on_user_event(event)

    def start(self) -> None:
        """Put the history before ``start_ms`` in the past and open the first candle."""
        for m in self.markets.values():
            m.visible = int(np.searchsorted(m.ts, self.start_ms))
        self.started = True
        self.advance_to(self.start_ms)

    @property
    def finished(self) -> bool:
        return self.next_tick >= self.end_ms

    def advance_to(self, target_ms: int) -> list[ClosedCandle]:
        """Run every price step up to ``target_ms`` (clamped to the end of the data); the candles closed."""
        closed: list[ClosedCandle] = []
        target = min(target_ms, self.end_ms)
        while self.next_tick <= target:
            t = self.next_tick
            self.now_ms = t
            offset = t % self.tf_ms
            j = offset // self.tick_ms
            if offset == 0:
                # every symbol's final kline goes out before any symbol's next candle opens: a client
                # trading them together has them all after as many frames as there are symbols, not twice as
                # many (the first update of each next candle would otherwise sit between them)
                for m in self.markets.values():
                    final = m.close()
                    if final is not None:
                        closed.append(ClosedCandle(m.symbol, m.bar(m.visible - 1)))
                        self.listener.on_close(m, final, t)
            for m in self.markets.values():
                if offset == 0:
                    i = m.index_of(t) if t < self.end_ms else None
                    if i is not None:
                        m.open_candle(i)
                    else:
                        m.visible = int(np.searchsorted(m.ts, t))
                if m.current is not None:
                    trade = m.apply_step(j, t)
                    self.listener.on_step(m, trade, t)
                    self.engine.on_step(m)
            self.listener.on_clock(t)
            self.next_tick += self.tick_ms
        self.now_ms = max(self.now_ms, target)
        return closed

    def step(self, n: int = 1) -> list[ClosedCandle]:
        """Advance to the ``n``-th next candle boundary (stepped clock)."""
        if n < 1:
            raise ValueError(f"step: n must be at least 1 (got {n})")
        if self.finished:
            raise EndOfDataError(f"the replay ended at {self.end_ms}")
        return self.advance_to((self.now_ms // self.tf_ms + n) * self.tf_ms)

    def advance_ms(self, ms: int) -> list[ClosedCandle]:
        if ms < 0:
            raise ValueError(f"advance: ms must not be negative (got {ms})")
        if self.finished:
            raise EndOfDataError(f"the replay ended at {self.end_ms}")
        return self.advance_to(self.now_ms + ms)

    def closed_candles(self, symbol: str) -> list[CandleBar]:
        m = self.by_symbol.get(symbol)
        if m is None:
            raise KeyError(symbol)
        return m.closed_bars()

    def state(self) -> dict[str, Any]:
        from tradewarden.simulator.formats import my_trade, order_json
        from tradewarden.simulator.numbers import fmt

        acc = self.account
        return {
            "now_ms": self.now_ms,
            "finished": self.finished,
            "balances": {
                a: {"free": fmt(acc.free.get(a, Decimal(0))), "locked": fmt(acc.locked.get(a, Decimal(0)))}
                for a in acc.assets()
            },
            "initial_balances": {a: fmt(v) for a, v in sorted(acc.initial.items())},
            "fees": {a: fmt(v) for a, v in sorted(acc.fees.items())},
            "open_orders": [
                order_json(o)
                for book in self.engine.open.values()
                for o in sorted(book.values(), key=lambda o: o.id)
            ],
            "orders": len(self.engine.orders),
            "fills": [my_trade(f) for f in self.engine.fills],
            "partial_fills_only": self.engine.partial_only,
        }
