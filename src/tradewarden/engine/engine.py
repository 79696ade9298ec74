"""The per-candle engine: the loop paper, shadow and live trading run, and the backtest's per-candle path.

For each closed candle: collect what the venue reports (fills, status changes), book it, mark the account,
ask the strategy for its signal on the candles closed so far (only those: it cannot see ahead), decide the
orders with the same compiled logic as the batch path, pass each through the pre-trade check and submit it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from tradewarden.domain.candles import Candle, CandleSeries, timeframe_ms
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import InvalidTransition, Order, OrderSide, OrderStatus, OrderType
from tradewarden.domain.portfolio import Fill, Portfolio, Position
from tradewarden.domain.ports import CheckContext, EventSink, OrderUpdate, PreTradeCheck, Venue
from tradewarden.domain.ticks import price_to_ticks
from tradewarden.engine.decide import (
    D_QTY,
    D_REDUCE,
    D_SIDE,
    D_SL,
    D_TP,
    decide,
    decision_buffer,
    sizing_amount,
    sizing_mode,
)
from tradewarden.engine.ids import client_order_id
from tradewarden.engine.trades import TradeBook
from tradewarden.engine.window import Window
from tradewarden.strategies.base import Strategy


class RiskHooks(Protocol):
    """What the engine tells the risk layer besides asking it about orders."""

    def on_mark(self, ts: int, equity: Decimal, prices: dict[str, Decimal] | None = None) -> None: ...

    def on_trade_closed(self, ts: int, symbol: str, pnl: Decimal) -> None: ...


@dataclass(frozen=True)
class EngineSettings:
    """How the engine sizes and directs positions (fees/slippage only enter the sizing headroom)."""

    sizing: str = "equity_fraction"  # or "fixed" or "quote"
    equity_fraction: float = 0.95
    fixed_qty: Decimal = Decimal(1)
    quote_amount: Decimal = Decimal(0)  # quote spent on each entry with sizing "quote"
    allow_short: bool = False
    taker_cbps: int = 1000
    slippage_cbps: int = 200


class History:
    """Closed candles so far, in growable numpy columns; views of the tail go to the strategy."""

    def __init__(self, symbol: str, timeframe: str, capacity: int = 1024, max_bars: int | None = None) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.max_bars = max_bars  # a session running for weeks keeps only this many (memory stays flat)
        self.n = 0
        self.ts = np.zeros(capacity, dtype=np.int64)
        self.ohlcv = np.zeros((5, capacity), dtype=np.float64)  # open, high, low, close, volume

    def append(self, c: Candle) -> None:
        if self.n and c.ts <= int(self.ts[self.n - 1]):
            raise ValueError(f"candle {c.ts} is not after the previous one ({int(self.ts[self.n - 1])})")
        if self.max_bars is not None and self.n >= 2 * self.max_bars:
            keep = slice(self.n - self.max_bars, self.n)
            self.ts[: self.max_bars] = self.ts[keep]
            self.ohlcv[:, : self.max_bars] = self.ohlcv[:, keep]
            self.n = self.max_bars
        if self.n == self.ts.shape[0]:
            self.ts = np.concatenate((self.ts, np.zeros_like(self.ts)))
            self.ohlcv = np.concatenate((self.ohlcv, np.zeros_like(self.ohlcv)), axis=1)
        self.ts[self.n] = c.ts
        self.ohlcv[:, self.n] = (c.open, c.high, c.low, c.close, c.volume)
        self.n += 1

    def tail(self, bars: int) -> CandleSeries:
        lo = max(0, self.n - bars)
        o, h, low, c, v = (np.ascontiguousarray(row[lo : self.n]) for row in self.ohlcv)
        return CandleSeries(self.ts[lo : self.n], o, h, low, c, v, self.symbol, self.timeframe).read_only()


class Engine:
    """Runs one strategy on one instrument against any venue.

    The engine owns no cash: it reads and books money and its position in a :class:`Portfolio`. Given
    one, several engines (one per symbol) share its cash ledger; without one the engine keeps a portfolio
    of its own instrument, funded with ``cash``, and behaves as a one-symbol bot.
    """

    def __init__(self, strategy: Strategy, instrument: Instrument, venue: Venue, events: EventSink,
                 settings: EngineSettings, cash: Decimal, timeframe: str = "1h",
                 check: PreTradeCheck | None = None, risk: RiskHooks | None = None,
                 on_trade: Callable[[Any], None] | None = None, keep_history: bool = True,
                 portfolio: Portfolio | None = None, window: int | None = None) -> None:
        self.strategy = strategy
        self.instrument = instrument
        self.venue = venue
        self.events = events
        self.settings = settings
        self.check = check
        self.risk = risk
        self.history = History(instrument.symbol, timeframe)
        self.position = Position(instrument.symbol)
        # a shared portfolio gets one equity mark per time step from its runner, not one per symbol
        self.shared = portfolio is not None
        self.portfolio = portfolio if portfolio is not None else \
            Portfolio(instrument.quote, [instrument.symbol], [instrument.atom], cash)
        self.base_dust = Decimal(0)  # base held below one lot step (fees withheld in base); see _withhold
        self.fees_atoms = 0
        self.orders: dict[str, Order] = {}       # every order of the session (keep_history) or the open ones
        self.open_orders: dict[str, Order] = {}  # not yet final
        self.keep_history = keep_history
        self._changed: set[str] = set()
        self._retired: dict[str, Order] = {}
        self._fills_drained = 0
        self.orders_placed = 0
        self.before_submit: Callable[[Order], None] | None = None  # e.g. store the intent before sending
        # per bar and per fill: all of them in a backtest; a session (``window``) holds only the newest, its
        # state keeper has written the rest to the store (memory stays flat over weeks)
        self.fills: Window[Fill] = Window(window)
        self.equity_atoms: Window[int] = Window(window)
        self.candle_ts: Window[int] = Window(window)
        self.candle_close: Window[float] = Window(window)
        self.exposed_bars = 0
        self.trades = TradeBook(instrument, events, on_trade, window=window)
        self._buf = decision_buffer()
        self.last_ts = 0
        self.tf_ms = timeframe_ms(timeframe)

    # -- the loop ------------------------------------------------------------------------------
    def warm_up(self, candles: Sequence[Candle]) -> None:
        """History before trading starts: the strategy sees it, nothing is decided on it."""
        for candle in candles:
            if self.history.n and candle.ts <= int(self.history.ts[self.history.n - 1]):
                continue
            self.history.append(candle)
            self.last_ts = candle.ts

    def prepare(self) -> None:
        """Run the strategy and the decision kernel once, deciding nothing and changing nothing.

        numba loads (or compiles) a kernel at its first call in a process, which takes from a few hundred
        milliseconds to seconds: done here, before trading starts, instead of on the first live candle's way
        to its order. On the history when it is long enough, otherwise on made-up candles of the same types,
        so it can run before the history is fetched (a candle closing meanwhile would wait for it).
        """
        look = max(1, self.strategy.lookback)
        window = self.history.tail(look) if self.history.n >= look else self._made_up_candles(look + 1)
        # an optimisation only: a strategy that fails here fails on the first candle, reported as before
        with contextlib.suppress(Exception):
            self.strategy.signals(window)
        s = self.settings
        # the argument types of _decide's call, so the very same compiled version is loaded; NaN decides nothing
        decide(float("nan"), 0, 0, self.pos_steps, self.cash_atoms, 0, False, int(s.allow_short),
               sizing_mode(s.sizing), 0, 0, s.taker_cbps, s.slippage_cbps, decision_buffer())

    def _made_up_candles(self, n: int) -> CandleSeries:
        step = self.tf_ms
        close = 100.0 + np.sin(np.arange(n, dtype=np.float64))  # up and down moves, as real prices make
        open_ = np.concatenate(([close[0]], close[:-1]))
        high = np.maximum(open_, close) + 0.5
        low = np.minimum(open_, close) - 0.5
        ts = np.arange(n, dtype=np.int64) * step
        return CandleSeries(ts, open_, high, low, close, np.ones(n), self.history.symbol,
                            self.history.timeframe).read_only()

    def drain_changes(self) -> tuple[list[Order], list[Fill]]:
        """Orders that changed and fills booked since the last call (what a crash-safe store must write)."""
        orders = [self.orders.get(cid) or self._retired[cid] for cid in self._changed
                  if cid in self.orders or cid in self._retired]
        fills = self.fills[self._fills_drained:]
        self._changed.clear()
        self._retired.clear()
        self._fills_drained = len(self.fills)
        return orders, fills

    @property
    def changed(self) -> bool:
        """Whether orders changed since the last :meth:`drain_changes`."""
        return bool(self._changed)

    def on_candle(self, candle: Candle) -> None:
        close_ticks = self.advance(candle)
        self.decide_on(candle, close_ticks)

    def advance(self, candle: Candle) -> int:
        """The first half of a candle: the venue's fills and endings are booked, the mark moves to the close.

        A portfolio runs this for every symbol with a bar at a time step before any decides, so every
        decision of the step sees the same equity. Returns the close in ticks.
        """
        self.last_ts = candle.ts
        self.apply_updates(self.venue.on_candle(candle), candle.ts)
        self.history.append(candle)
        close_ticks = price_to_ticks(candle.close, self.instrument)
        self.portfolio.mark(self.instrument.symbol, close_ticks)
        self.candle_ts.append(candle.ts)
        self.candle_close.append(candle.close)
        if self.pos_steps != 0:
            self.exposed_bars += 1
        return close_ticks

    def decide_on(self, candle: Candle, close_ticks: int) -> None:
        """The second half: mark the equity, decide and submit the orders."""
        if not self.shared:
            equity = self.cash_atoms + self.pos_steps * close_ticks
            self.equity_atoms.append(equity)
            if self.risk is not None:
                self.risk.on_mark(candle.ts, self.instrument.from_atoms(equity),
                                  {self.instrument.symbol: Decimal(repr(candle.close))})
        self._decide(candle, close_ticks)
        self.apply_updates(self.venue.poll(), candle.ts)

    # -- the account, kept in the portfolio ----------------------------------------------------------
    @property
    def cash_atoms(self) -> int:
        """The portfolio's cash in this instrument's atoms (rounded down when the ledger is finer)."""
        return self.portfolio.cash_atoms(self.instrument.symbol)

    @cash_atoms.setter
    def cash_atoms(self, atoms: int) -> None:
        self.portfolio.set_cash_atoms(self.instrument.symbol, atoms)

    @property
    def pos_steps(self) -> int:
        return self.portfolio.steps[self.instrument.symbol]

    @pos_steps.setter
    def pos_steps(self, steps: int) -> None:
        self.portfolio.steps[self.instrument.symbol] = steps

    def _decide(self, candle: Candle, close_ticks: int) -> None:
        look = max(1, self.strategy.lookback)
        window = self.history.tail(look)
        sig = self.strategy.signals(window)
        target = float(sig.target[-1])
        sl = self._ticks(sig.stop_loss)
        tp = self._ticks(sig.take_profit)
        pending = any(o.type is OrderType.MARKET for o in self.open_orders.values())
        s = self.settings
        pos = self.pos_steps
        # the kernel sizes on cash + pos × close: given the portfolio's equity less this position, it sizes on
        # the whole portfolio (one symbol: exactly the cash)
        cash = self.portfolio.equity_atoms(self.instrument.symbol) - pos * close_ticks if self.shared \
            else self.cash_atoms
        n = decide(target, sl, tp, pos, cash, close_ticks, pending, int(s.allow_short), sizing_mode(s.sizing),
                   sizing_amount(s.sizing, self.instrument, s.fixed_qty, s.quote_amount),
                   round(s.equity_fraction * 1_000_000), s.taker_cbps, s.slippage_cbps, self._buf)
        for j in range(n):
            row = self._buf[j]
            inst = self.instrument
            order = Order(
                client_id=client_order_id(self.strategy.name, inst.symbol, candle.ts, j),
                symbol=inst.symbol,
                side=OrderSide.BUY if row[D_SIDE] > 0 else OrderSide.SELL,
                type=OrderType.MARKET,
                qty=inst.from_steps(int(row[D_QTY])),
                stop_loss=inst.from_ticks(int(row[D_SL])) if row[D_SL] else None,
                take_profit=inst.from_ticks(int(row[D_TP])) if row[D_TP] else None,
                reduce_only=bool(row[D_REDUCE]),
                created_ts=candle.ts + self.tf_ms,  # decided at the candle's close
            )
            self.place(order, Decimal(repr(candle.close)))

    def _ticks(self, prices: np.ndarray | None) -> int:
        if prices is None:
            return 0
        value = float(prices[-1])
        if not np.isfinite(value) or value <= 0:
            return 0
        return price_to_ticks(value, self.instrument)

    # -- orders --------------------------------------------------------------------------------
    def place(self, order: Order, last_price: Decimal) -> bool:
        """Pass an order through the pre-trade check and submit it; False when it was denied."""
        self._track(order)
        if self.check is not None:
            pf = self.portfolio
            sym = self.instrument.symbol
            others = pf.others_units(sym)
            equity = pf.cash + pf.from_units(others) + self.position.qty * last_price
            exposure = pf.from_units(pf.exposure_units() - abs(pf.value_units(sym))) \
                + abs(self.position.qty) * last_price
            ctx = CheckContext(order.created_ts, last_price, equity, pf.cash, self.position.qty,
                               pf.positions_taken(), exposure)
            result = self.check.check(order, ctx)
            if not result.approved:
                order.transition(OrderStatus.REJECTED, result.reason_code or "denied")
                self._settle(order)
                return False
            if result.order is not None and result.order is not order:
                order = result.order
                self._track(order)
        self.events.emit(EventType.ORDER_PLACED, order.created_ts, client_id=order.client_id, symbol=order.symbol,
                         side=order.side.value, order_type=order.type.value, qty=order.qty, price=order.price,
                         stop_price=order.stop_price, stop_loss=order.stop_loss, take_profit=order.take_profit,
                         reduce_only=order.reduce_only)
        order.transition(OrderStatus.SUBMITTED)
        if not order.reduce_only:
            self.portfolio.entering.add(self.instrument.symbol)
        self.orders_placed += 1
        if self.before_submit is not None:
            self.before_submit(order)
        self.venue.submit(order)
        return True

    def cancel(self, client_id: str) -> None:
        self.venue.cancel(client_id)

    def adopt_order(self, order: Order) -> None:
        """Follow an order this engine did not place (an operator's ``--adopt``): its fills are booked."""
        self._track(order)
        self.events.emit(EventType.ORDER_ADOPTED, self.last_ts, client_id=order.client_id, symbol=order.symbol,
                         side=order.side.value, order_type=order.type.value, qty=order.qty, price=order.price,
                         filled=order.filled_qty)

    def adopt_position(self, ts: int, held: Decimal, price: Decimal) -> None:
        """Take ``held`` base as the position (an operator's ``--adopt`` of the exchange's balance), marked at
        ``price`` where the bot does not know the real entry: whole steps become the position, the rest dust."""
        inst = self.instrument
        before = self.pos_steps
        whole = self._hold(held)
        self.position.qty = held
        self.position.avg_price = price if held else Decimal(0)
        self.trades.adopt(ts, whole, inst.to_ticks(price))
        self.events.emit(EventType.POSITION_ADOPTED, ts, symbol=inst.symbol, before=inst.from_steps(before),
                         after=inst.from_steps(whole), dust=self.base_dust, mark_price=price)

    def _track(self, order: Order) -> None:
        self.open_orders[order.client_id] = order
        self.orders[order.client_id] = order
        self._changed.add(order.client_id)

    def _settle(self, order: Order) -> None:
        """An order reached a final state: it leaves the open set (and, without history, memory)."""
        self._changed.add(order.client_id)
        if order.status.is_final:
            self.open_orders.pop(order.client_id, None)
            if not any(not o.reduce_only for o in self.open_orders.values()):
                self.portfolio.entering.discard(self.instrument.symbol)
            if not self.keep_history:
                self.orders.pop(order.client_id, None)
                self._retired[order.client_id] = order

    def apply_updates(self, updates: Sequence[OrderUpdate], ts: int) -> None:
        for update in updates:
            order = self.open_orders.get(update.client_id)
            if update.fill is not None:
                if order is None:  # a protective exit the venue made for the position
                    order = self._protective_order(update.fill)
                self._book_fill(update.fill, order)
                continue
            if order is None:
                continue
            status = OrderStatus(update.status)
            if status is OrderStatus.ACCEPTED and order.status is OrderStatus.SUBMITTED:
                order.transition(status)
                self._changed.add(order.client_id)
            elif status in (OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED) \
                    and not order.status.is_final:
                order.transition(status, update.reason)
                self._settle(order)
                kind = EventType.ORDER_REJECTED \
                    if status is OrderStatus.REJECTED or update.reason == "insufficient balance" \
                    else EventType.ORDER_CANCELLED
                self.events.emit(kind, ts, client_id=order.client_id, symbol=order.symbol, reason=update.reason)

    def _protective_order(self, fill: Fill) -> Order:
        kind = OrderType.LIMIT if fill.reason == "take_profit" else OrderType.STOP_MARKET
        order = Order(fill.client_id, fill.symbol, fill.side, kind, fill.qty,
                      price=fill.price if kind is OrderType.LIMIT else None,
                      stop_price=fill.price if kind is OrderType.STOP_MARKET else None,
                      reduce_only=True, created_ts=fill.ts)
        order.transition(OrderStatus.SUBMITTED)
        order.transition(OrderStatus.ACCEPTED)
        self._track(order)
        return order

    def _book_fill(self, fill: Fill, order: Order) -> None:
        try:
            order.record_fill(fill.qty)
        except (InvalidTransition, ValueError) as exc:  # the venue reported more than we asked for
            self.events.emit(EventType.MESSAGE_REJECTED, fill.ts, source="venue", reason=str(exc))
            return
        self._settle(order)
        inst = self.instrument
        steps = inst.to_steps(fill.qty)
        notional = inst.to_ticks(fill.price) * steps
        fee = inst.to_atoms(fill.fee)
        quote_fee = 0 if fill.fee_base else fee  # a fee withheld in base costs no quote
        self.portfolio.book(inst.symbol,
                            (-notional - quote_fee) if fill.side is OrderSide.BUY else (notional - quote_fee))
        self.fees_atoms += fee
        self.pos_steps += fill.side.sign * steps
        self.position.apply(fill)
        self.fills.append(fill)
        fields: dict[str, Any] = {"fee_base": fill.fee_base} if fill.fee_base else {}
        self.events.emit(EventType.FILL, fill.ts, client_id=fill.client_id, symbol=fill.symbol, side=fill.side.value,
                         qty=fill.qty, price=fill.price, fee=fill.fee, liquidity=fill.liquidity, reason=fill.reason,
                         **fields)
        closed = self.trades.on_fill(fill)
        if fill.fee_base:
            closed = self._withhold(fill, fee) or closed
        if closed is not None and self.risk is not None:
            self.risk.on_trade_closed(fill.ts, fill.symbol, closed.pnl)

    def _withhold(self, fill: Fill, fee_atoms: int) -> Any:
        """The exchange kept ``fill.fee_base`` of the base asset: the position shrinks by it.

        Orders trade whole lot steps, so the position stays in whole steps (what the bot can sell) and the
        sub-step remainder is kept as :attr:`base_dust`, always in [0, one step): the account holds exactly
        ``position + base_dust``. Dust carried over from earlier trades is taken back into the position as
        soon as it makes a whole step again.
        """
        before = self.pos_steps
        withheld_steps = before - self._hold(self.held - fill.fee_base)
        self.position.qty -= fill.fee_base
        # the trade's result must equal the quote that moved: the withheld base is valued as the fee was
        return self.trades.withhold(fill.ts, withheld_steps, fee_atoms, fill.reason)

    @property
    def held(self) -> Decimal:
        """The base asset the account holds for this engine: the position plus sub-step dust."""
        return self.instrument.from_steps(self.pos_steps) + self.base_dust

    def _hold(self, held: Decimal) -> int:
        """Make ``held`` the holding: whole lot steps (rounded down) are the position, the rest is dust."""
        whole = self.instrument.to_steps(held)
        self.pos_steps, self.base_dust = whole, held - self.instrument.from_steps(whole)
        return whole

    # -- crash-safe state ----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything the engine needs to resume exactly (open orders are stored separately)."""
        h = self.history
        tail = max(1, self.strategy.lookback)
        lo = max(0, h.n - tail)
        b = self.trades
        return {
            "pos_steps": self.pos_steps, "base_dust": str(self.base_dust), "cash_atoms": self.cash_atoms,
            "fees_atoms": self.fees_atoms,
            "exposed_bars": self.exposed_bars, "orders_placed": self.orders_placed, "fills": len(self.fills),
            "last_ts": self.last_ts,
            "position": [str(self.position.qty), str(self.position.avg_price), str(self.position.realized_pnl)],
            "book": [b.pos, b.side, b.entry_ts, b.entry_qty, b.entry_value, b.exit_qty, b.exit_value, b.fees,
                     b.withheld_value],
            "history_ts": h.ts[lo : h.n].tolist(), "history": h.ohlcv[:, lo : h.n].tolist(),
        }

    def restore(self, data: dict[str, Any], open_orders: Sequence[Order], with_history: bool = True) -> None:
        """Resume from :meth:`snapshot` and the stored open orders; without ``with_history`` only the
        account (money, position, open orders) carries over and the strategy warms up afresh."""
        self.pos_steps = int(data["pos_steps"])
        self.base_dust = Decimal(data.get("base_dust", "0"))
        self.cash_atoms = int(data["cash_atoms"])
        self.fees_atoms = int(data["fees_atoms"])
        # a new run after a clean stop reports on its own bars only
        self.exposed_bars = int(data["exposed_bars"]) if with_history else 0
        self.orders_placed = int(data["orders_placed"])
        self.last_ts = int(data["last_ts"]) if with_history else 0
        qty, avg, realized = (Decimal(v) for v in data["position"])
        self.position.qty, self.position.avg_price, self.position.realized_pnl = qty, avg, realized
        b = self.trades
        book = [int(v) for v in data["book"]] + [0]  # snapshots before fee_base have no withheld value
        (b.pos, b.side, b.entry_ts, b.entry_qty, b.entry_value, b.exit_qty, b.exit_value, b.fees,
         b.withheld_value) = book[:9]
        rows = data["history"]
        for i, ts in enumerate(data["history_ts"] if with_history else []):
            self.history.append(Candle(int(ts), rows[0][i], rows[1][i], rows[2][i], rows[3][i], rows[4][i]))
        for order in open_orders:
            self.open_orders[order.client_id] = order
            self.orders[order.client_id] = order
            if not order.reduce_only:
                self.portfolio.entering.add(self.instrument.symbol)

    # -- results -------------------------------------------------------------------------------
    def equity_array(self) -> np.ndarray:
        return np.array(self.equity_atoms.kept(), dtype=np.int64)
