"""The shadow venue: orders that passed the risk gate are recorded as ``SHADOW_ORDER`` and never sent.

Each record carries exactly what would have gone to the exchange (the ccxt ``create_order`` arguments with
the client order id). So that the strategy's view stays coherent (a strategy that "bought" should next want
to sell, not buy again), the venue books a virtual fill through the same fill model as paper trading; those
fills are virtual and marked so in the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tradewarden.domain.candles import Candle
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import Order
from tradewarden.domain.ports import EventSink, OrderUpdate
from tradewarden.venues.params import FillSettings
from tradewarden.venues.simulated import SimulatedVenue

_CCXT_TYPES = {"market": "market", "limit": "limit", "stop_market": "STOP_LOSS", "stop_limit": "STOP_LOSS_LIMIT"}


def ccxt_order_arguments(order: Order) -> dict[str, object]:
    """The arguments ``exchange.create_order`` would get for this order (prices and amounts as strings)."""
    params: dict[str, object] = {"newClientOrderId": order.client_id}
    if order.stop_price is not None:
        params["stopPrice"] = str(order.stop_price)
    return {
        "symbol": order.symbol,
        "type": _CCXT_TYPES[order.type.value],
        "side": order.side.value,
        "amount": str(order.qty),
        "price": None if order.price is None else str(order.price),
        "params": params,
    }


class ShadowVenue:
    def __init__(self, instrument: Instrument, settings: FillSettings, cash: Decimal, events: EventSink) -> None:
        self._virtual = SimulatedVenue(instrument, settings, cash)
        self._symbol = instrument.symbol  # named in every record: a session of several symbols logs each
        self._events = events
        self._ts = 0

    def submit(self, order: Order) -> None:
        self._events.emit(EventType.SHADOW_ORDER, order.created_ts, symbol=order.symbol, client_id=order.client_id,
                          would_send=ccxt_order_arguments(order), reduce_only=order.reduce_only,
                          stop_loss=order.stop_loss, take_profit=order.take_profit)
        self._virtual.submit(order)

    def cancel(self, client_id: str) -> None:
        self._events.emit(EventType.SHADOW_ORDER, self._ts, symbol=self._symbol, client_id=client_id,
                          would_send={"cancel": client_id})
        self._virtual.cancel(client_id)

    def on_candle(self, candle: Candle) -> Sequence[OrderUpdate]:
        self._ts = candle.ts
        return self._virtual.on_candle(candle)

    def poll(self) -> Sequence[OrderUpdate]:
        return self._virtual.poll()

    def set_cash_atoms(self, atoms: int) -> None:
        """A portfolio's shadow venues all spend one shared ledger (see :meth:`SimulatedVenue.set_cash_atoms`)."""
        self._virtual.set_cash_atoms(atoms)

    def snapshot(self) -> dict[str, Any]:
        return self._virtual.snapshot()

    def restore(self, data: dict[str, Any]) -> None:
        self._virtual.restore(data)
