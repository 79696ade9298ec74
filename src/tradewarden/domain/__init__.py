"""The domain model every other package depends on and which depends on nothing of ours.

It owns the vocabulary of trading: candles, instruments and their exchange filters (with the exact
rounding of prices and quantities to tick and step), orders with their state machine written as a
transition table, fills, positions and account balances, and the interfaces (ports) through which the
engine talks to market data, venues and pre-trade checks without knowing which mode it runs in.
"""

from tradewarden.domain.candles import Candle, CandleSeries
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.orders import (
    InvalidTransition,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
)
from tradewarden.domain.portfolio import Account, Fill, Position

__all__ = [
    "Account",
    "Candle",
    "CandleSeries",
    "Fill",
    "Instrument",
    "InvalidTransition",
    "Order",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Position",
]
