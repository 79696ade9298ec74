"""Fills, positions and account balances, all in exact decimals."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tradewarden.domain.orders import OrderSide

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``fee`` is in the quote currency; ``reason`` says what caused it.

    ``fee_base`` is the base asset the exchange withheld as the fee (Binance charges a fee in the asset
    received, so every buy): the account then holds ``qty - fee_base`` more base, pays no quote fee, and
    ``fee`` is the withheld amount's value at the fill price (for the books and reports).
    """

    ts: int
    client_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str = "taker"  # or "maker"
    reason: str = "order"     # order | stop_loss | take_profit | trailing_stop
    fee_base: Decimal = ZERO

    @property
    def notional(self) -> Decimal:
        return self.qty * self.price


@dataclass
class Position:
    """Net position in one symbol; positive long, negative short, with average entry price."""

    symbol: str
    qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO

    def apply(self, fill: Fill) -> Decimal:
        """Apply a fill; return the profit it realised (before fees)."""
        signed = fill.qty * fill.side.sign
        realized = ZERO
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            total = self.qty + signed
            self.avg_price = (self.avg_price * abs(self.qty) + fill.price * fill.qty) / abs(total)
            self.qty = total
        else:
            closing = min(abs(signed), abs(self.qty))
            direction = 1 if self.qty > 0 else -1
            realized = (fill.price - self.avg_price) * closing * direction
            self.qty += signed
            if self.qty == 0:
                self.avg_price = ZERO
            elif (self.qty > 0) != (direction > 0):  # flipped through zero
                self.avg_price = fill.price
        self.realized_pnl += realized
        return realized

    def unrealized(self, price: Decimal) -> Decimal:
        return (price - self.avg_price) * self.qty


@dataclass
class Account:
    """Balances per asset, free and locked. Every change goes through a method that keeps them exact."""

    free: dict[str, Decimal] = field(default_factory=dict)
    locked: dict[str, Decimal] = field(default_factory=dict)

    def total(self, asset: str) -> Decimal:
        return self.free.get(asset, ZERO) + self.locked.get(asset, ZERO)

    def credit(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + amount

    def debit(self, asset: str, amount: Decimal, allow_negative: bool = False) -> None:
        after = self.free.get(asset, ZERO) - amount
        if after < 0 and not allow_negative:
            raise ValueError(f"insufficient {asset}: have {self.free.get(asset, ZERO)}, need {amount}")
        self.free[asset] = after

    def lock(self, asset: str, amount: Decimal) -> None:
        self.debit(asset, amount)
        self.locked[asset] = self.locked.get(asset, ZERO) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        if self.locked.get(asset, ZERO) < amount:
            raise ValueError(f"cannot unlock {amount} {asset}: only {self.locked.get(asset, ZERO)} locked")
        self.locked[asset] -= amount
        self.credit(asset, amount)

    def apply_fill(self, fill: Fill, base: str, quote: str, allow_short: bool = False) -> None:
        """Move base and quote for a fill; the fee is paid in quote unless the exchange withheld base."""
        quote_fee = ZERO if fill.fee_base else fill.fee
        if fill.side is OrderSide.BUY:
            self.debit(quote, fill.notional + quote_fee)
            self.credit(base, fill.qty - fill.fee_base)
        else:
            self.debit(base, fill.qty + fill.fee_base, allow_negative=allow_short)
            self.credit(quote, fill.notional - quote_fee)
