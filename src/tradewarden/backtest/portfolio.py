"""A portfolio backtest: many symbols on one account with one cash balance, by either engine path.

The symbols' candles are aligned on the union of their timestamps. At each time step every symbol with a
bar there is advanced first, in the order given (its venue fills and endings are booked into the shared
cash, its mark moves to the close); then the equity is marked (cash + every position at its last close)
and each of those symbols decides on it, in the same order. A symbol without a bar at a step does nothing
there: its position keeps its last mark, no candle is made up for it, and the missing bars are counted.

``simulate_portfolio_per_candle`` runs one :class:`~tradewarden.engine.Engine` per symbol over a shared
:class:`~tradewarden.domain.portfolio.Portfolio` (the paper-trading path, and the one the risk gate runs
on); :mod:`tradewarden.backtest.portfolio_fast` runs the same steps in one compiled loop. Both return a
:class:`PortfolioSimulation` in the same integer units, so they can be compared exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from tradewarden.backtest.core import NothingToTestError, OrderRecord
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.backtest.walk import FillRecord
from tradewarden.domain.candles import Candle, CandleSeries, timeframe_ms
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.portfolio import Portfolio
from tradewarden.domain.ports import EventSink, PreTradeCheck
from tradewarden.domain.trades import Trade
from tradewarden.engine.engine import Engine, RiskHooks
from tradewarden.engine.window import session_history_bars
from tradewarden.errors import BadInput
from tradewarden.strategies.base import Strategy
from tradewarden.venues.simulated import SimulatedVenue

I64Array = npt.NDArray[np.int64]


class PortfolioError(BadInput, ValueError):
    """A portfolio that cannot be run as asked (mixed quote currencies, a symbol twice, ...)."""


@dataclass(frozen=True)
class Market:
    """One symbol of the portfolio: its candles, its exchange filters and its strategy (own parameters)."""

    series: CandleSeries
    instrument: Instrument
    strategy: Strategy


@dataclass
class SymbolResult:
    """What one symbol did inside the portfolio (money in its instrument's atoms)."""

    market: Market
    trades: list[Trade]
    open_trade: Trade | None
    fees_atoms: int
    exposed_bars: int
    fills: list[FillRecord] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    missing_bars: int = 0  # steps inside its own first..last bar where it had no bar

    @property
    def symbol(self) -> str:
        return self.market.instrument.symbol

    @property
    def all_trades(self) -> list[Trade]:
        return self.trades + ([self.open_trade] if self.open_trade else [])

    @property
    def fees(self) -> Decimal:
        return self.market.instrument.from_atoms(self.fees_atoms)


@dataclass
class PortfolioSimulation:
    path: str
    ts: I64Array               # the aligned time axis (union of every symbol's bars)
    equity_units: I64Array     # portfolio equity at each step, in ``unit``
    unit: Decimal
    symbols: list[SymbolResult]
    exposed_steps: int         # steps that ended with at least one open position
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def equity(self) -> npt.NDArray[np.float64]:
        return self.equity_units.astype(np.float64) * float(self.unit)

    @property
    def trades(self) -> list[Trade]:
        return sorted((t for s in self.symbols for t in s.trades), key=lambda t: (t.exit_ts, t.symbol))

    @property
    def all_trades(self) -> list[Trade]:
        return sorted((t for s in self.symbols for t in s.all_trades), key=lambda t: (t.entry_ts, t.symbol))

    @property
    def fees(self) -> Decimal:
        return sum((s.fees for s in self.symbols), Decimal(0))


@dataclass(frozen=True)
class Alignment:
    """The union time axis and, per symbol, the index of its bar at each step (-1: no bar)."""

    ts: I64Array
    index: I64Array  # (symbols, steps)

    @property
    def present(self) -> npt.NDArray[np.bool_]:
        return self.index >= 0


def align(markets: Sequence[Market]) -> Alignment:
    if not markets:
        raise PortfolioError("a portfolio needs at least one symbol")
    ts = np.unique(np.concatenate([m.series.ts for m in markets]))
    index = np.full((len(markets), ts.shape[0]), -1, dtype=np.int64)
    for j, m in enumerate(markets):
        index[j, np.searchsorted(ts, m.series.ts)] = np.arange(len(m.series), dtype=np.int64)
    return Alignment(ts, index)


def missing_bars(markets: Sequence[Market]) -> list[int]:
    """Per symbol: candles missing between its own first and last bar (never filled in, whatever the other
    symbols have at those times)."""
    out: list[int] = []
    for m in markets:
        s = m.series
        span = (int(s.ts[-1]) - int(s.ts[0])) // timeframe_ms(s.timeframe) + 1 if len(s) else 0
        out.append(span - len(s))
    return out


def new_portfolio(markets: Sequence[Market], cash: Decimal) -> Portfolio:
    quotes = sorted({m.instrument.quote for m in markets})
    if len(quotes) != 1:
        raise PortfolioError(f"every symbol of a portfolio must be quoted in one currency, got {', '.join(quotes)}")
    try:
        return Portfolio(quotes[0], [m.instrument.symbol for m in markets], [m.instrument.atom for m in markets],
                         cash)
    except ValueError as exc:
        raise PortfolioError(str(exc)) from exc


def step_order(symbols: Sequence[str], bars: Mapping[str, Candle]) -> list[tuple[int, Candle]]:
    """The processing order of one time step: (index in ``symbols``, bar) of every symbol with a bar at this
    step, in the portfolio's symbol order (``--symbols``, ``market.symbols``), whatever order the bars arrived
    in. Each of them is advanced (fills booked) in this order, then the equity is marked, then each decides
    in this order: the order decides which symbol gets the cash first when two want it in the same step."""
    unknown = sorted(set(bars) - set(symbols))
    if unknown:
        raise PortfolioError(f"bars for {', '.join(unknown)}, which the portfolio does not trade")
    return [(j, bars[s]) for j, s in enumerate(symbols) if s in bars]


class PortfolioStepper:
    """One engine per symbol over a shared portfolio, advanced one aligned time step at a time.

    The per-candle backtest drives it with the steps of :func:`align`; a live session drives it with the
    steps of :func:`tradewarden.data.align.aligned_steps`. The same steps give the same orders and fills.
    """

    def __init__(self, markets: Sequence[Market], settings: BacktestSettings, events: EventSink,
                 check: PreTradeCheck | None = None, risk: RiskHooks | None = None,
                 window: int | None = None) -> None:
        """``window``: the engines hold only their newest bars, fills and trades and their open orders, as a
        session's do (``replay``); without it they hold everything (the backtest's results need it)."""
        self.markets = list(markets)
        self.symbols = [m.instrument.symbol for m in self.markets]
        self.risk = risk
        self.portfolio = new_portfolio(self.markets, settings.initial_cash)
        self.venues = [SimulatedVenue(m.instrument, settings.fill, settings.initial_cash) for m in self.markets]
        self.engines = [Engine(m.strategy, m.instrument, v, events, settings.engine_settings(), settings.initial_cash,
                               m.series.timeframe, check=check, risk=risk, portfolio=self.portfolio,
                               keep_history=window is None, window=window)
                        for m, v in zip(self.markets, self.venues, strict=True)]
        if window is not None:
            for m, engine in zip(self.markets, self.engines, strict=True):
                engine.history.max_bars = session_history_bars(m.strategy.lookback)
        self.exposed_steps = 0
        self._close_ticks = [0] * len(self.markets)

    def step(self, ts: int, bars: Mapping[str, Candle]) -> int:
        """Advance every symbol with a bar, mark the equity, let each decide; returns the equity in ``unit``."""
        order = step_order(self.symbols, bars)
        for j, candle in order:
            self.venues[j].set_cash_atoms(self.portfolio.cash_atoms(self.symbols[j]))
            self._close_ticks[j] = self.engines[j].advance(candle)
        equity = self.portfolio.equity_units()
        if self.portfolio.open_positions():
            self.exposed_steps += 1
        if self.risk is not None:
            self.risk.on_mark(ts, self.portfolio.equity,
                              {self.symbols[j]: Decimal(repr(candle.close)) for j, candle in order})
        for j, candle in order:
            self.engines[j].decide_on(candle, self._close_ticks[j])
        return equity

    def simulation(self, path: str, ts: I64Array, equity: I64Array) -> PortfolioSimulation:
        """The outcome after the markets' last bars (their series give each symbol's final mark)."""
        gaps = missing_bars(self.markets)
        results = [_symbol_result(m, e, gaps[j]) for j, (m, e) in enumerate(zip(self.markets, self.engines,
                                                                                  strict=True))]
        return PortfolioSimulation(path, ts, equity, self.portfolio.unit, results, self.exposed_steps)


def simulate_portfolio_per_candle(markets: Sequence[Market], settings: BacktestSettings, events: EventSink,
                                  check: PreTradeCheck | None = None, risk: RiskHooks | None = None,
                                  progress: Callable[[int], None] | None = None) -> PortfolioSimulation:
    """One engine per symbol over a shared portfolio, fed step by step as paper trading is."""
    if any(len(m.series) == 0 for m in markets):
        raise NothingToTestError("no candles to test for " + ", ".join(m.instrument.symbol for m in markets
                                                                        if len(m.series) == 0))
    al = align(markets)
    stepper = PortfolioStepper(markets, settings, events, check=check, risk=risk)
    symbols = stepper.symbols
    index = al.index.T.tolist()  # per step: each symbol's bar or -1
    equity = np.zeros(al.ts.shape[0], dtype=np.int64)
    for t, bars in enumerate(index):
        equity[t] = stepper.step(int(al.ts[t]), {symbols[j]: markets[j].series.candle(i)
                                                 for j, i in enumerate(bars) if i >= 0})
        if progress is not None and t % 1000 == 0:
            progress(t)
    return stepper.simulation("per_candle", al.ts, equity)


_PROTECTIVE = ("-sl", "-tp", "-ts")


def _symbol_result(market: Market, engine: Engine, missing: int) -> SymbolResult:
    inst = market.instrument
    fills: list[FillRecord] = [
        (f.ts, f.client_id, f.side.sign, inst.to_steps(f.qty), inst.to_ticks(f.price), inst.to_atoms(f.fee),
         f.reason) for f in engine.fills
    ]
    orders: list[OrderRecord] = [
        (o.client_id, o.side.sign, inst.to_steps(o.qty), o.status.value, inst.to_steps(o.filled_qty))
        for o in engine.orders.values() if not (o.reduce_only and o.client_id.endswith(_PROTECTIVE))
    ]
    s = market.series
    last = len(s) - 1
    close_ticks = int(np.rint(s.close[last] / float(inst.tick_size)))
    open_trade = engine.trades.open_trade(int(s.ts[last]), close_ticks)
    return SymbolResult(market, engine.trades.trades.kept(), open_trade, engine.fees_atoms, engine.exposed_bars, fills,
                        orders, missing)
