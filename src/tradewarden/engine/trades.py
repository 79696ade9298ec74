"""Building round-trip trades from fills, in exact integers, with PositionOpened/PositionClosed events."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.portfolio import Fill
from tradewarden.domain.ports import EventSink
from tradewarden.domain.trades import Trade
from tradewarden.engine.window import Window

_PRICE_PLACES = Decimal("0.00000001")


class TradeBook:
    """Follows one symbol's position through its fills and records each completed round trip."""

    def __init__(self, instrument: Instrument, events: EventSink | None = None,
                 on_trade: Callable[[Any], None] | None = None, window: int | None = None) -> None:
        self.instrument = instrument
        self.events = events
        self.on_trade = on_trade
        self.trades: Window[Trade] = Window(window)  # a session holds the newest only (the rest is in its store)
        self.pos = 0
        self._reset()

    def _reset(self) -> None:
        self.side = 0
        self.entry_ts = 0
        self.entry_qty = 0
        self.entry_value = 0  # ticks * steps
        self.exit_qty = 0
        self.exit_value = 0
        self.withheld_value = 0  # atoms: base the exchange kept as fees, valued as the fee
        self.fees = 0  # atoms

    def on_fill(self, fill: Fill) -> Trade | None:
        inst = self.instrument
        return self.on_fill_ints(fill.ts, fill.side.sign, inst.to_steps(fill.qty), inst.to_ticks(fill.price),
                                 inst.to_atoms(fill.fee), fill.reason)

    def on_fill_ints(self, ts: int, side: int, qty: int, px: int, fee: int, reason: str) -> Trade | None:
        if self.pos != 0 and (self.pos > 0) != (side > 0) and qty > abs(self.pos):
            # a fill that flips the position: close the old one, open the rest as a new one
            first = abs(self.pos)
            fee_first = fee * first // qty
            closed = self.on_fill_ints(ts, side, first, px, fee_first, reason)
            self.on_fill_ints(ts, side, qty - first, px, fee - fee_first, reason)
            return closed
        if self.pos == 0:
            self._reset()
            self.side = side
            self.entry_ts = ts
            if self.events is not None:
                self.events.emit(EventType.POSITION_OPENED, ts, symbol=self.instrument.symbol,
                                 side="long" if side > 0 else "short", qty=self.instrument.from_steps(qty),
                                 price=self.instrument.from_ticks(px))
        self.fees += fee
        if side == self.side:
            self.entry_qty += qty
            self.entry_value += px * qty
        else:
            self.exit_qty += qty
            self.exit_value += px * qty
        self.pos += side * qty
        if self.pos != 0:
            return None
        trade = self._close(ts, "signal" if reason == "order" else reason)
        return trade

    def withhold(self, ts: int, steps: int, value: int, reason: str) -> Trade | None:
        """The exchange kept ``steps`` of the position as a fee worth ``value`` atoms (already in the fees).

        The withheld base left the position without a sale, so it counts as an exit worth the fee: the trade's
        result then equals the quote that really moved (what the sales brought in, less what the buys cost and
        the fees paid in quote)."""
        if self.pos == 0:
            return None
        self.pos -= steps
        self.withheld_value += value
        if self.pos != 0 and (self.pos > 0) == (self.side > 0):
            return None
        self.pos = 0  # withholding cannot flip a position: below zero is what the dust absorbs
        return self._close(ts, "signal" if reason == "order" else reason)

    def adopt(self, ts: int, pos: int, px: int) -> None:
        """The position is now ``pos`` steps without a fill (an operator adopted the exchange's balance): the
        difference enters (or leaves) the open trade at ``px``, a mark, since the real prices are unknown."""
        delta = pos - self.pos
        if delta == 0:
            return
        if pos == 0:
            self.pos = 0
            self._reset()
            return
        if self.pos == 0 or (self.pos > 0) != (pos > 0):
            self._reset()
            self.side, self.entry_ts, delta = (1 if pos > 0 else -1), ts, pos
        if (delta > 0) == (self.side > 0):
            self.entry_qty += abs(delta)
            self.entry_value += px * abs(delta)
        else:
            self.exit_qty += abs(delta)
            self.exit_value += px * abs(delta)
        self.pos = pos

    def _close(self, ts: int, reason: str) -> Trade:
        inst = self.instrument
        gross = (self.exit_value - self.entry_value) * self.side + self.withheld_value
        trade = Trade(
            symbol=inst.symbol,
            side="long" if self.side > 0 else "short",
            entry_ts=self.entry_ts,
            exit_ts=ts,
            entry_price=self._avg(self.entry_value, self.entry_qty),
            exit_price=self._avg(self.exit_value, self.exit_qty),
            qty=inst.from_steps(self.entry_qty),
            pnl=inst.from_atoms(gross - self.fees),
            fees=inst.from_atoms(self.fees),
            exit_reason=reason,
        )
        self.trades.append(trade)
        if self.events is not None:
            self.events.emit(EventType.POSITION_CLOSED, ts, symbol=trade.symbol, side=trade.side, qty=trade.qty,
                             entry_price=trade.entry_price, exit_price=trade.exit_price, pnl=trade.pnl,
                             fees=trade.fees, reason=reason)
        if self.on_trade is not None:
            self.on_trade(trade)
        self._reset()
        return trade

    def _avg(self, value: int, qty: int) -> Decimal:
        if qty == 0:
            return Decimal(0)
        return (Decimal(value) / Decimal(qty) * self.instrument.tick_size).quantize(_PRICE_PLACES)

    def open_trade(self, ts: int, mark_ticks: int) -> Trade | None:
        """The position still open at the end of the data, marked to ``mark_ticks`` (no fill is simulated)."""
        if self.pos == 0:
            return None
        inst = self.instrument
        remaining = abs(self.pos)
        value = self.exit_value + mark_ticks * remaining
        gross = (value - self.entry_value) * self.side + self.withheld_value
        return Trade(inst.symbol, "long" if self.side > 0 else "short", self.entry_ts, ts,
                     self._avg(self.entry_value, self.entry_qty), inst.from_ticks(mark_ticks),
                     inst.from_steps(self.entry_qty), inst.from_atoms(gross - self.fees), inst.from_atoms(self.fees),
                     "end_of_data")
