"""Following orders the exchange has: status reads, booking their trades as fills, cancels, and the plumbing
every exchange call of the venue goes through.

:class:`ExchangeOrderFollower` is the half of :class:`tradewarden.venues.exchange.ExchangeVenue` that reads:
once an order is known on the exchange it reads the order's status (through ``reader``, with the retry
policy), books each of its trades once, in trade-id order, with exact fees (quote, withheld base, or another
asset), reports a final status only after every fill, and cancels on request. Its plumbing runs one step per
order so that an exchange error leaves that order as it was for the next poll. Sending, resolving a create
without an answer and resending live in :mod:`tradewarden.venues.exchange`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import Order, OrderStatus, protective_reason
from tradewarden.domain.portfolio import Fill
from tradewarden.domain.ports import EventSink, OrderUpdate
from tradewarden.venues.exchange_state import ExchangeFill, ExchangeViewError, exact, short_error, trade_order_key

# one logger for the whole venue, whichever of its modules writes the line
log = logging.getLogger("tradewarden.venues.exchange")

ZERO = Decimal(0)
_FINAL = {"canceled": OrderStatus.CANCELLED, "cancelled": OrderStatus.CANCELLED,
          "expired": OrderStatus.EXPIRED, "rejected": OrderStatus.REJECTED}


@dataclass
class TrackedOrder:
    """What the venue knows about one order it follows (by our client order id)."""

    order: Order
    exchange_id: str | None = None
    sends: int = 0                      # create requests sent for this client id
    last_send: float | None = None      # monotonic time of the latest one (None: not sent by this process)
    accepted: bool = False              # ACCEPTED reported
    booked: Decimal = ZERO              # quantity reported in fills
    unmatched: Decimal = ZERO           # booked before a restart, trade ids unknown: skipped oldest first
    trade_ids: set[str] = field(default_factory=set)
    cancel_wanted: bool = False
    cancel_done: bool = False           # the exchange answered the cancel (cancelled, or already final)
    resend_if_missing: bool = True
    last_error: str = ""
    recheck_at: float | None = None     # monotonic time from which a "not found" is final (see _resolve)


class ExchangeOrderFollower:
    """The venue's fields and its reading half (see the module docstring and :class:`ExchangeVenue`)."""

    def __init__(self, exchange: Any, instrument: Instrument, events: EventSink,
                 clock: Callable[[], int], max_resends: int = 2, *, retry: RetryPolicy | None = None,
                 reader: Any | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        # Not a lazy import: tradewarden.data.retry, imported above, already loads ccxt. What keeps ccxt out
        # of the backtest is that the backtest never imports this module.
        import ccxt

        self._ccxt = ccxt
        self.exchange = exchange
        self.reader = reader if reader is not None else exchange
        self.instrument = instrument
        self.events = events
        self.clock = clock
        self.max_resends = max_resends
        self.retry = retry or RetryPolicy(sink=events, exchange=exchange, max_attempts=5, max_total_s=20.0)
        # the same policy for reads, reading the reader's retry-after headers
        self._read_retry = self.retry if self.reader is exchange else replace(self.retry, exchange=self.reader)
        self._monotonic = monotonic
        self._tracked: dict[str, TrackedOrder] = {}
        self._pending: list[OrderUpdate] = []
        self._done: dict[str, str | None] = {}     # client id -> exchange id of orders that ended in this process
        self.base_fees = ZERO                      # base asset the exchange withheld as fees
        self.other_fees: dict[str, Decimal] = {}   # fees in assets that are neither base nor quote

    # -- following an order ------------------------------------------------------------------------
    def _known(self, tracked: TrackedOrder, info: Mapping[str, Any]) -> None:
        """The exchange has the order (create answer, lookup or status read)."""
        if info.get("id") is None:
            raise ExchangeViewError(f"order {tracked.order.client_id}: the exchange answered without an order id")
        tracked.exchange_id = str(info["id"])
        tracked.order.exchange_id = tracked.exchange_id
        if not tracked.accepted and info.get("status") != "rejected":
            tracked.accepted = True
            self._pending.append(OrderUpdate(tracked.order.client_id, OrderStatus.ACCEPTED.value))
        if tracked.cancel_wanted and info.get("status") == "open":
            self._cancel_on_exchange(tracked)
            return
        self._apply(tracked, info)

    def _refresh(self, tracked: TrackedOrder) -> None:
        info = self._fetch("fetch_order", self.reader.fetch_order, tracked.exchange_id, self.instrument.symbol)
        self._apply(tracked, info)

    def _apply(self, tracked: TrackedOrder, info: Mapping[str, Any]) -> None:
        filled = exact(info, "executedQty", "filled", f"order {tracked.order.client_id}")
        if filled > tracked.booked:
            self._book_trades(tracked)
        status = str(info.get("status") or "open")
        if status in ("open", "canceling") or tracked.booked < filled:
            return  # still working, or trades not visible yet: look again at the next poll
        final = _FINAL.get(status)
        if final is None:  # closed: the fills already took the engine's order to FILLED
            self._forget(tracked)
            return
        reason = "cancelled on request" if final is OrderStatus.CANCELLED and tracked.cancel_wanted \
            else f"{status} on the exchange"
        if final is OrderStatus.EXPIRED:
            reason = f"expired on the exchange with {filled} of {tracked.order.qty} filled"
        self._finish(tracked, final, reason)

    def _book_trades(self, tracked: TrackedOrder) -> None:
        trades = self._fetch("fetch_my_trades", self.reader.fetch_my_trades, self.instrument.symbol, None, 1000,
                            {"orderId": tracked.exchange_id})
        fills = sorted((ExchangeFill.from_ccxt(t) for t in trades), key=trade_order_key)
        for ex in fills:
            if ex.order_id != tracked.exchange_id or ex.trade_id in tracked.trade_ids:
                continue
            tracked.trade_ids.add(ex.trade_id)
            if tracked.unmatched > 0:  # booked by the previous process
                tracked.unmatched -= ex.qty
                if tracked.unmatched < 0:
                    self._emit(EventType.VENUE_ERROR, tracked.order.client_id, call="adopt",
                               error="FillMismatch", message=f"trades before the restart do not add up to "
                               f"{tracked.order.filled_qty}; trade {ex.trade_id} straddles it")
                    tracked.unmatched = ZERO
                continue
            self._book(tracked, ex)

    def _book(self, tracked: TrackedOrder, ex: ExchangeFill) -> None:
        inst = self.instrument
        fee_base = ZERO
        if ex.fee_asset == inst.quote:
            fee = ex.fee
        elif ex.fee_asset == inst.base:
            fee = ex.fee * ex.price
            fee_base = ex.fee
            self.base_fees += ex.fee
        else:
            fee = ZERO
            self.other_fees[ex.fee_asset] = self.other_fees.get(ex.fee_asset, ZERO) + ex.fee
        tracked.booked += ex.qty
        fill = Fill(ts=ex.ts or self.clock(), client_id=tracked.order.client_id, symbol=inst.symbol, side=ex.side,
                    qty=ex.qty, price=ex.price, fee=fee, liquidity="maker" if ex.maker else "taker",
                    reason=protective_reason(tracked.order.client_id),
                    fee_base=fee_base)
        status = OrderStatus.FILLED if tracked.booked >= tracked.order.qty else OrderStatus.PARTIALLY_FILLED
        self.events.emit(EventType.EXCHANGE_FILL, fill.ts, client_id=fill.client_id, exchange_id=ex.order_id,
                         trade_id=ex.trade_id, qty=ex.qty, price=ex.price, fee=ex.fee, fee_asset=ex.fee_asset,
                         fee_quote=fee)
        self._pending.append(OrderUpdate(fill.client_id, status.value, fill=fill))

    # -- cancelling --------------------------------------------------------------------------------
    def _cancel_on_exchange(self, tracked: TrackedOrder) -> None:
        try:
            info = self._read("cancel_order", self.exchange.cancel_order, tracked.exchange_id,
                              self.instrument.symbol)
        except self._ccxt.OrderNotFound:
            # already final (typically: it just filled); its real end is in the order's status
            tracked.cancel_done = True
            self._refresh(tracked)
            return
        tracked.cancel_done = True
        self._apply(tracked, info)

    def _cancel_untracked(self, client_id: str) -> None:
        """Cancel an order this venue does not follow (left by another process) by its client id."""
        try:
            self._read("cancel_order", self.exchange.cancel_order, None, self.instrument.symbol,
                       {"origClientOrderId": client_id})
        except self._ccxt.BaseError as exc:
            self._emit(EventType.VENUE_ERROR, client_id, call="cancel_order", error=type(exc).__name__,
                       message=short_error(exc))

    # -- plumbing ----------------------------------------------------------------------------------
    def _last_answer(self) -> str | None:
        body = getattr(self.exchange, "last_http_response", None)
        return body if isinstance(body, str) else None

    def _read(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        return self.retry.call(fn, *args, label=f"{getattr(self.exchange, 'id', 'exchange')} {what}")

    def _fetch(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """A read through the reader (its own connection and rate limiter)."""
        return self._read_retry.call(fn, *args, label=f"{getattr(self.reader, 'id', 'exchange')} {what}")

    def _guarded(self, tracked: TrackedOrder, call: str, fn: Callable[[TrackedOrder], None]) -> None:
        """Run one step for one order; an exchange error leaves its state as it was for the next poll."""
        try:
            fn(tracked)
        except (self._ccxt.BaseError, ExchangeViewError) as exc:
            tracked.last_error = short_error(exc)
            self._emit(EventType.VENUE_ERROR, tracked.order.client_id, call=call, error=type(exc).__name__,
                       message=tracked.last_error)
            log.warning("order %s: %s failed (%s); will try again at the next poll", tracked.order.client_id,
                        call, tracked.last_error)

    def _forget(self, tracked: TrackedOrder) -> None:
        self._tracked.pop(tracked.order.client_id, None)
        self._done[tracked.order.client_id] = tracked.exchange_id

    def _emit(self, type_: EventType, client_id: str, **fields: Any) -> None:
        self.events.emit(type_, self.clock(), client_id=client_id, symbol=self.instrument.symbol, **fields)

    def _finish(self, tracked: TrackedOrder, status: OrderStatus, reason: str) -> None:
        self._forget(tracked)
        self._pending.append(OrderUpdate(tracked.order.client_id, status.value, reason=reason))
