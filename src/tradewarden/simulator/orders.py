"""Orders and fills as the simulator keeps them (Binance's field meanings, exact Decimals)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
LIMIT_TYPES = frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
STOP_TYPES = frozenset({"STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK"})
ZERO = Decimal(0)


@dataclass
class SimOrder:
    id: int
    client_id: str
    symbol: str  # exchange id, e.g. BTCUSDT
    side: str  # BUY / SELL
    type: str
    tif: str  # GTC / IOC / FOK; GTC is reported for MARKET as Binance does
    qty: Decimal
    price: Decimal  # 0 for MARKET
    stop_price: Decimal  # 0 when none
    quote_qty: Decimal  # origQuoteOrderQty, 0 unless a quote-sized market order
    time: int
    update_time: int
    working_time: int  # -1 while a stop order waits for its trigger
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    lock_asset: str = ""
    locked: Decimal = ZERO  # still reserved for this order
    candle: int = -1  # candle index of ``candle_filled``
    candle_filled: Decimal = ZERO  # quantity filled in that candle (volume-share limit)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_buy(self) -> bool:
        return self.side == "BUY"


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_maker: bool
