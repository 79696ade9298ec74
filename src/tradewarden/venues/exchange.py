"""The exchange venue: real orders through ccxt (sync), with no duplicate and no lost order.

* Every order carries our deterministic client order id (``newClientOrderId``); the caller persists the
  intent before :meth:`ExchangeVenue.submit` sends anything.
* ``create_order`` is never retried blindly. When its answer is lost (timeout, 5xx, dropped connection,
  malformed answer) the order may or may not exist, so we look it up by client order id. Found: it is
  ours. Not found: a request still in flight could land later, so a "not found" counts only once the
  request can no longer be accepted: Binance refuses a request whose ``timestamp`` is more than
  ``recvWindow`` old when it is processed (and one more than 1 s ahead of its clock), so after
  ``recvWindow + 1 s`` (+ a margin) since the send, "not found" is final and we resend with the same id.
  Nothing waits for that moment: the order stays SUBMITTED and a later :meth:`ExchangeVenue.poll` looks it up
  again once it is due (:meth:`ExchangeVenue.recheck_in` says when), so the caller's thread is never held.
  A resend refused as ``Duplicate order sent.`` means the first one arrived after all: resolved by lookup.
* Fills come from the exchange's trade records (``fetch_my_trades`` by order id), booked once per trade id,
  in trade-id order, with exact decimals. A final status (cancelled, expired) is reported only after every
  fill of the order has been reported, so the engine never sees a fill after an order's end.
* Fees: a fee the exchange took in the quote asset is passed as the fill's ``fee``. One taken in the base
  asset (Binance and the simulator charge the received asset, so every buy) is the fill's ``fee_base``: the
  account received that much less base, and the engine shrinks the position by it (whole lot steps it can
  sell, plus sub-step dust); ``fee`` is then its value at the trade's price, exactly (``fee × price``), for
  the books. :attr:`ExchangeVenue.base_fees` adds the withheld base up. A fee in any other asset (BNB)
  cannot be valued here: it is booked as 0 in the fill and added up in :attr:`ExchangeVenue.other_fees`.
  Each trade also emits ``ExchangeFill`` with the raw fee and trade id.
* Reads (lookups, order status, trades) go to ``reader``, a second ccxt instance with its own rate limiter,
  so following orders never queues an order's create behind a read; creates and cancels go to ``exchange``.
* Reads (lookups, order status, trades, cancels, which are idempotent) go through the shared retry policy;
  a read that still fails leaves everything as it was and is tried again at the next :meth:`poll`, so an
  error never crashes the venue and never loses a fill.

Events (besides the retry policy's ``ExchangeRetry``/``ExchangeGaveUp``): ``OrderAmbiguous`` (a create
without a usable answer), ``OrderResolved`` (found by client id), ``OrderResent``, ``ExchangeFill``,
``ClockResynced`` and ``VenueError`` (a read failed; will retry).

:class:`ExchangeVenue` holds the Venue interface and the sending side (send, resolve a create without an answer,
resend, clock resync); following an order the exchange has (status reads, fills, cancels) and the plumbing are
:class:`tradewarden.venues.exchange_follow.ExchangeOrderFollower`, which it extends.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tradewarden.domain.candles import Candle
from tradewarden.domain.events import EventType
from tradewarden.domain.orders import Order, OrderStatus
from tradewarden.domain.ports import OrderUpdate
from tradewarden.venues.exchange_follow import ExchangeOrderFollower, TrackedOrder
from tradewarden.venues.exchange_state import short_error
from tradewarden.venues.shadow import ccxt_order_arguments

log = logging.getLogger(__name__)

#: Binance accepts a request up to 1 s ahead of its clock; see the module docstring.
_AHEAD_MS = 1000
_MARGIN_S = 0.5


_BODY = re.compile(r"\{.*\}")


def rejection_reason(exc: BaseException, answer: str | None = None) -> str:
    """A clear one-line reason for a refused order: what kind of refusal, then the exchange's code and text
    (from ``answer``, the raw body of the refusal, when ccxt's message does not carry them)."""
    import ccxt

    if isinstance(exc, ccxt.InsufficientFunds):
        kind = "insufficient balance"
    elif isinstance(exc, ccxt.InvalidNonce):
        kind = "request timestamp refused (clock offset against the exchange; resynced for the next order)"
    elif isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
        kind = "not authorised (API key, secret or permissions)"
    elif "Filter failure" in str(exc):
        kind = "exchange filter failure (price, quantity or notional off the instrument's limits)"
    elif isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest):
        kind = "invalid order"
    else:
        kind = "refused by the exchange"
    match = _BODY.search(str(exc)) or _BODY.search(answer or "")
    if match:
        try:
            body = json.loads(match.group(0))
        except ValueError:
            body = None
        if isinstance(body, dict) and "msg" in body:
            return f"{kind}: {body.get('code', '')} {body['msg']}".rstrip()
    return f"{kind}: {short_error(exc)}"


class ExchangeVenue(ExchangeOrderFollower):
    """One instrument on one exchange account, through a ccxt (sync) exchange object.

    ``clock`` gives the event timestamps (ms). ``max_resends`` bounds how often one client id is sent again
    after the exchange definitely did not get it. ``retry`` is the policy for reads (default: the shared
    policy with this venue's event sink, at most 5 tries and 20 s per call); ``reader`` the ccxt instance for
    reads (default: ``exchange``); ``monotonic`` the timing function (injectable for tests).
    """


    # -- Venue -------------------------------------------------------------------------------------
    def submit(self, order: Order) -> None:
        if order.client_id in self._tracked or order.client_id in self._done:
            # once a market order is closed the exchange would take the same client id again
            log.warning("order %s was already submitted; not sent again", order.client_id)
            self._emit(EventType.VENUE_ERROR, order.client_id, call="submit", error="DuplicateSubmit",
                       message="this client order id was already submitted")
            return
        tracked = TrackedOrder(order)
        self._tracked[order.client_id] = tracked
        self._guarded(tracked, "submit", self._send)

    def cancel(self, client_id: str) -> None:
        tracked = self._tracked.get(client_id)
        if tracked is None:
            self._cancel_untracked(client_id)
            return
        tracked.cancel_wanted = True
        if tracked.exchange_id is None and tracked.sends == 0 and tracked.last_send is None:
            self._finish(tracked, OrderStatus.CANCELLED, "cancelled before it was sent")
        elif tracked.exchange_id is None:
            self._guarded(tracked, "cancel", self._resolve)  # cancels once found, withdraws if never arrived
        else:
            self._guarded(tracked, "cancel", self._cancel_on_exchange)

    def on_candle(self, candle: Candle) -> Sequence[OrderUpdate]:
        return self.poll()

    def poll(self) -> Sequence[OrderUpdate]:
        for tracked in list(self._tracked.values()):
            if tracked.order.client_id not in self._tracked:
                continue  # finished while handling another one
            self._guarded(tracked, "poll", self._step)
        out, self._pending = self._pending, []
        return out

    def adopt(self, order: Order, exchange_id: str | None, *, trade_ids: Sequence[str] = (),
              resend_if_missing: bool = True) -> None:
        """Track an order recorded by a previous process; the next :meth:`poll` brings it up to date.

        ``exchange_id`` None means the intent was stored but the answer was lost: the order is looked up by
        client id and, if the exchange never got it, sent (``resend_if_missing``) or reported REJECTED.
        ``order.filled_qty`` is what was booked before; ``trade_ids`` the trades it came from, when stored
        (otherwise that quantity is matched against the order's oldest trades, the order they are booked in).
        """
        tracked = TrackedOrder(order, exchange_id,
                               accepted=order.status not in (OrderStatus.NEW, OrderStatus.SUBMITTED),
                               booked=order.filled_qty, resend_if_missing=resend_if_missing)
        tracked.trade_ids.update(str(t) for t in trade_ids)
        if not trade_ids:
            tracked.unmatched = order.filled_qty
        if exchange_id is None:
            tracked.sends = 1                           # it may have been sent: never resend before a lookup
            tracked.last_send = self._monotonic()       # and a request may still be in flight
        self._tracked[order.client_id] = tracked

    @property
    def orders_sent(self) -> dict[str, str | None]:
        """Client id -> exchange order id (None until known) of every order this process sent or took over:
        what reconciliation tells this bot's orders from another writer's by."""
        return {**self._done, **{cid: t.exchange_id for cid, t in self._tracked.items()}}

    def recheck_in(self) -> float | None:
        """Seconds until the earliest order whose create had no answer can be looked up conclusively (0: due
        now); None when no order waits for that. The runtime schedules its next :meth:`poll` by it."""
        due = [t.recheck_at for t in self._tracked.values() if t.recheck_at is not None]
        return max(0.0, min(due) - self._monotonic()) if due else None

    @property
    def open_client_ids(self) -> list[str]:
        """Client ids the venue still follows (not final, or final with fills still to report)."""
        return list(self._tracked)

    # -- sending -----------------------------------------------------------------------------------
    def _step(self, tracked: TrackedOrder) -> None:
        if tracked.exchange_id is None:
            if tracked.recheck_at is not None and self._monotonic() < tracked.recheck_at:
                return  # its lookup is not conclusive yet: the re-check is scheduled (recheck_in)
            if tracked.sends == 0:
                self._send(tracked)  # nothing left this process yet (markets could not be loaded)
            else:
                self._resolve(tracked)
        elif tracked.cancel_wanted and not tracked.cancel_done:
            self._cancel_on_exchange(tracked)
        else:
            self._refresh(tracked)

    def _send(self, tracked: TrackedOrder) -> None:
        ccxt = self._ccxt
        order = tracked.order
        self._read("load_markets", self.exchange.load_markets)  # a failure here: nothing was sent
        args = ccxt_order_arguments(order)
        tracked.sends += 1
        tracked.last_send = self._monotonic()
        try:
            response = self.exchange.create_order(
                args["symbol"], args["type"], args["side"], args["amount"], args["price"], args["params"])
        except (ccxt.DuplicateOrderId, ccxt.InvalidOrder) as exc:
            if not isinstance(exc, ccxt.DuplicateOrderId) and "Duplicate order" not in str(exc):
                self._finish(tracked, OrderStatus.REJECTED, rejection_reason(exc, self._last_answer()))
                return
            # an earlier send of this client id did arrive: find it instead of guessing
            self._emit(EventType.ORDER_AMBIGUOUS, order.client_id, error="duplicate", message=short_error(exc))
            self._resolve(tracked)
            return
        except ccxt.InvalidNonce as exc:
            # the exchange refused the request's timestamp, so it was not placed; resync for the next one
            self._finish(tracked, OrderStatus.REJECTED, rejection_reason(exc, self._last_answer()))
            self._resync_clock()
            return
        except ccxt.OperationFailed as exc:
            # no usable answer (timeout, 5xx, dropped connection, bad body): it may have been placed
            tracked.last_error = short_error(exc)
            self._emit(EventType.ORDER_AMBIGUOUS, order.client_id, error=type(exc).__name__, message=tracked.last_error)
            self._resolve(tracked)
            return
        except ccxt.BaseError as exc:
            self._finish(tracked, OrderStatus.REJECTED, rejection_reason(exc, self._last_answer()))
            return
        # the exchange has the order: the end of the latency an operator watches (candle close to acknowledged)
        self._emit(EventType.ORDER_ACKNOWLEDGED, order.client_id, exchange_id=str(response.get("id")),
                   decided_ts=order.created_ts)
        self._known(tracked, response)

    def _resolve(self, tracked: TrackedOrder) -> None:
        """Find an order whose create had no usable answer; resend it once it surely did not arrive."""
        found = self._lookup(tracked)
        if found is None and tracked.last_send is not None:
            due = tracked.last_send + self._settle_s()
            if self._monotonic() < due:
                # a request still in flight could land until then: look again once it no longer can, at a
                # later poll, rather than hold this thread (and every order behind it) for seconds
                tracked.recheck_at = due
                return
        tracked.recheck_at = None
        if found is not None:
            self._emit(EventType.ORDER_RESOLVED, tracked.order.client_id, exchange_id=str(found.get("id")),
                       status=str(found.get("status")))
            self._known(tracked, found)
            return
        cid = tracked.order.client_id
        if tracked.cancel_wanted:
            self._finish(tracked, OrderStatus.CANCELLED, "withdrawn: it never reached the exchange")
        elif not tracked.resend_if_missing:
            self._finish(tracked, OrderStatus.REJECTED, "never reached the exchange (not resent after restart)")
        elif tracked.sends > self.max_resends:
            self._finish(tracked, OrderStatus.REJECTED,
                         f"never reached the exchange after {tracked.sends} sends ({tracked.last_error})")
        else:
            self._emit(EventType.ORDER_RESENT, cid, attempt=tracked.sends + 1)
            self._send(tracked)

    def _lookup(self, tracked: TrackedOrder) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._fetch(
                "fetch_order", self.reader.fetch_order, None, self.instrument.symbol,
                {"origClientOrderId": tracked.order.client_id})
        except self._ccxt.OrderNotFound:
            return None
        return found

    def _settle_s(self) -> float:
        """Seconds after a send from which the exchange can no longer accept that request."""
        options = getattr(self.exchange, "options", None)
        window = options.get("recvWindow") if isinstance(options, Mapping) else None
        return (int(window or 10_000) + _AHEAD_MS) / 1000 + _MARGIN_S

    def _resync_clock(self) -> None:
        try:
            offset = self._read("load_time_difference", self.exchange.load_time_difference)
            if self.reader is not self.exchange:  # the reader signs its requests with the same clock
                self._fetch("load_time_difference", self.reader.load_time_difference)
        except (self._ccxt.BaseError, AttributeError) as exc:
            log.warning("clock resync failed: %s", short_error(exc))
            return
        self.events.emit(EventType.CLOCK_RESYNCED, self.clock(), exchange=getattr(self.exchange, "id", None),
                         offset_ms=offset)
