"""The exchange venue: real orders through ccxt, with no duplicate and no lost order.

* Every order carries our deterministic client order id (``newClientOrderId``).
* The caller persists the intent before :meth:`submit` sends anything.
* When the answer to a create is lost (timeout, dropped connection, 5xx), the order may or may not exist.
  We never guess: we look it up by client order id. Found: it is ours, accepted. Not found: we send it again
  with the same id, which the exchange would reject as a duplicate if the first one had arrived after all.
* Fills come from the exchange's own trade records (``fetch_my_trades``), each booked once by trade id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradewarden.domain.candles import Candle
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import Order, OrderSide, OrderStatus
from tradewarden.domain.portfolio import Fill
from tradewarden.domain.ports import EventSink, OrderUpdate
from tradewarden.venues.shadow import ccxt_order_arguments

log = logging.getLogger(__name__)

_STATUS = {"open": OrderStatus.ACCEPTED, "closed": OrderStatus.FILLED, "canceled": OrderStatus.CANCELLED,
           "cancelled": OrderStatus.CANCELLED, "expired": OrderStatus.EXPIRED, "rejected": OrderStatus.REJECTED}


@dataclass
class _Tracked:
    order: Order
    exchange_id: str | None = None
    resolved: bool = False        # we know whether the exchange has it
    attempts: int = 0
    seen_trades: set[str] = field(default_factory=set)


class ExchangeVenue:
    """One instrument on one exchange account, through a ccxt (sync) exchange object."""

    def __init__(self, exchange: Any, instrument: Instrument, events: EventSink,
                 clock: Callable[[], int], max_resends: int = 2) -> None:
        import ccxt  # imported here: the backtest never needs it

        self._ccxt = ccxt
        self.exchange = exchange
        self.instrument = instrument
        self.events = events
        self.clock = clock
        self.max_resends = max_resends
        self._open: dict[str, _Tracked] = {}
        self._pending: list[OrderUpdate] = []

    # -- Venue -------------------------------------------------------------------------------------
    def submit(self, order: Order) -> None:
        tracked = _Tracked(order)
        self._open[order.client_id] = tracked
        self._send(tracked)

    def cancel(self, client_id: str) -> None:
        tracked = self._open.get(client_id)
        if tracked is None:
            return
        ccxt = self._ccxt
        try:
            self.exchange.cancel_order(tracked.exchange_id, self._market_symbol(),
                                       params={} if tracked.exchange_id else {"origClientOrderId": client_id})
        except ccxt.OrderNotFound:
            pass  # already final: the next poll books what happened
        except ccxt.NetworkError as exc:
            log.warning("cancel of %s not confirmed (%s); will look again", client_id, type(exc).__name__)

    def on_candle(self, candle: Candle) -> Sequence[OrderUpdate]:
        return self.poll()

    def poll(self) -> Sequence[OrderUpdate]:
        for tracked in list(self._open.values()):
            if not tracked.resolved:
                self._resolve(tracked)
            elif tracked.exchange_id is not None:
                self._refresh(tracked)
        out, self._pending = self._pending, []
        return out

    def adopt(self, order: Order, exchange_id: str | None) -> None:
        """Track an order recorded before a restart (the runtime resolves unknown ones by client id)."""
        self._open[order.client_id] = _Tracked(order, exchange_id, resolved=exchange_id is not None)

    # -- internals ---------------------------------------------------------------------------------
    def _market_symbol(self) -> str:
        return self.instrument.symbol

    def _send(self, tracked: _Tracked) -> None:
        ccxt = self._ccxt
        args = ccxt_order_arguments(tracked.order)
        tracked.attempts += 1
        try:
            response = self.exchange.create_order(
                args["symbol"], args["type"], args["side"], args["amount"], args["price"], args["params"])
        except ccxt.DuplicateOrderId:
            tracked.resolved = False  # it did arrive the first time: look it up
            self._resolve(tracked)
            return
        except (ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.BadRequest, ccxt.AuthenticationError,
                ccxt.PermissionDenied) as exc:
            self._finish(tracked, OrderStatus.REJECTED, f"{type(exc).__name__}: {exc}")
            return
        except (ccxt.NetworkError, ccxt.ExchangeNotAvailable) as exc:
            # The ambiguous case: the exchange may have accepted the order. Resolve by client id.
            log.warning("order %s: no answer (%s); looking it up by client order id", tracked.order.client_id,
                        type(exc).__name__)
            tracked.resolved = False
            self._resolve(tracked)
            return
        self._accepted(tracked, response)

    def _resolve(self, tracked: _Tracked) -> None:
        ccxt = self._ccxt
        try:
            found = self.exchange.fetch_order(None, self._market_symbol(),
                                              params={"origClientOrderId": tracked.order.client_id})
        except ccxt.OrderNotFound:
            if tracked.attempts > self.max_resends:
                self._finish(tracked, OrderStatus.REJECTED, "never reached the exchange")
                return
            self._send(tracked)
            return
        except (ccxt.NetworkError, ccxt.ExchangeNotAvailable) as exc:
            log.warning("order %s still unresolved (%s); will retry", tracked.order.client_id, type(exc).__name__)
            return
        self._accepted(tracked, found)

    def _accepted(self, tracked: _Tracked, info: dict[str, Any]) -> None:
        tracked.exchange_id = str(info.get("id")) if info.get("id") is not None else None
        tracked.resolved = True
        tracked.order.exchange_id = tracked.exchange_id
        self._pending.append(OrderUpdate(tracked.order.client_id, OrderStatus.ACCEPTED.value))
        self._apply(tracked, info)

    def _refresh(self, tracked: _Tracked) -> None:
        ccxt = self._ccxt
        try:
            info = self.exchange.fetch_order(tracked.exchange_id, self._market_symbol())
        except (ccxt.NetworkError, ccxt.ExchangeNotAvailable):
            return
        self._apply(tracked, info)

    def _apply(self, tracked: _Tracked, info: dict[str, Any]) -> None:
        filled = Decimal(str(info.get("filled") or 0))
        known = tracked.order.filled_qty + sum(
            (u.fill.qty for u in self._pending if u.fill and u.client_id == tracked.order.client_id), Decimal(0))
        if filled > known:
            self._book_trades(tracked)
        status = _STATUS.get(str(info.get("status") or "open"), OrderStatus.ACCEPTED)
        if status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED):
            self._finish(tracked, status, str(info.get("status")))
        elif status is OrderStatus.FILLED and filled >= tracked.order.qty:
            self._open.pop(tracked.order.client_id, None)

    def _book_trades(self, tracked: _Tracked) -> None:
        ccxt = self._ccxt
        try:
            trades = self.exchange.fetch_my_trades(self._market_symbol(), params={"orderId": tracked.exchange_id})
        except (ccxt.NetworkError, ccxt.ExchangeNotAvailable):
            return
        for t in trades:
            tid = str(t.get("id"))
            if str(t.get("order")) != tracked.exchange_id or tid in tracked.seen_trades:
                continue
            tracked.seen_trades.add(tid)
            fee = t.get("fee") or {}
            fill = Fill(
                ts=int(t.get("timestamp") or self.clock()), client_id=tracked.order.client_id,
                symbol=self.instrument.symbol, side=OrderSide(str(t["side"])),
                qty=self.instrument.round_qty(str(t["amount"])), price=self.instrument.round_price(str(t["price"])),
                fee=self._fee_in_quote(fee, Decimal(str(t["price"]))),
                liquidity="maker" if t.get("takerOrMaker") == "maker" else "taker", reason="order",
            )
            self._pending.append(OrderUpdate(tracked.order.client_id, OrderStatus.PARTIALLY_FILLED.value, fill=fill))

    def _fee_in_quote(self, fee: dict[str, Any], price: Decimal) -> Decimal:
        cost = Decimal(str(fee.get("cost") or 0))
        if fee.get("currency") == self.instrument.base:
            return cost * price  # a fee taken in the base asset, valued at the fill price
        return cost

    def _finish(self, tracked: _Tracked, status: OrderStatus, reason: str) -> None:
        self._open.pop(tracked.order.client_id, None)
        self._pending.append(OrderUpdate(tracked.order.client_id, status.value, reason=reason))
