"""Fills, positions, account balances and the portfolio (one cash ledger over many instruments), exact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

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


def cash_unit(atoms: Sequence[Decimal], names: Sequence[str] = ()) -> Decimal:
    """The one integer unit a shared cash ledger counts in: the finest of the instruments' atoms.

    Every instrument books its money in its own atoms (tick × step); a ledger shared by several can stay in
    integers only when each atom is a whole multiple of the finest one. Exchange grids are powers of ten, so
    that holds in practice; anything else is refused rather than rounded.
    """
    if not atoms:
        raise ValueError("a portfolio needs at least one instrument")
    unit = min(atoms)
    for i, atom in enumerate(atoms):
        if atom % unit != 0:
            name = names[i] if i < len(names) else f"instrument {i}"
            raise ValueError(f"{name}: its money unit {atom} (tick × step) is not a whole multiple of "
                             f"{unit}; a shared cash ledger cannot hold both exactly")
    return unit


class Portfolio:
    """One cash ledger and one position per instrument, shared by every strategy runner of a bot.

    Cash is an integer count of :attr:`unit` (see :func:`cash_unit`); an instrument's money in its own atoms
    converts exactly by its integer ``scale``. Positions are whole lot steps, marks the last close in ticks,
    so equity = cash + Σ position × mark is exact. A runner reads its cash in its own atoms rounded down
    (:meth:`cash_atoms`), so it can never spend more than the ledger holds.
    """

    def __init__(self, quote: str, symbols: Sequence[str], atoms: Sequence[Decimal], cash: Decimal) -> None:
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"a symbol appears twice in the portfolio: {', '.join(symbols)}")
        self.quote = quote
        self.symbols = tuple(symbols)
        self.unit = cash_unit(atoms, symbols)
        self.scale = {s: int(a / self.unit) for s, a in zip(symbols, atoms, strict=True)}
        self.cash_units = self.to_units(cash)
        self.steps = dict.fromkeys(symbols, 0)
        self.marks = dict.fromkeys(symbols, 0)  # last close in ticks
        # symbols with an entry order still working: a position in the making (market orders fill a bar later,
        # so symbols deciding at the same step would otherwise all see room for one more position)
        self.entering: set[str] = set()

    # -- money in the ledger's unit ---------------------------------------------------------------
    def to_units(self, amount: Decimal) -> int:
        return int((amount / self.unit).to_integral_value(rounding=ROUND_FLOOR))

    def from_units(self, units: int) -> Decimal:
        return (Decimal(int(units)) * self.unit).quantize(self.unit)

    @property
    def cash(self) -> Decimal:
        return self.from_units(self.cash_units)

    def cash_atoms(self, symbol: str) -> int:
        """The cash in ``symbol``'s atoms, rounded down (what that runner may spend)."""
        return self.cash_units // self.scale[symbol]

    def book(self, symbol: str, atoms: int) -> None:
        """Add (or with a negative amount, take) ``atoms`` of ``symbol``'s money to the cash: exact."""
        self.cash_units += atoms * self.scale[symbol]

    def set_cash_atoms(self, symbol: str, atoms: int) -> None:
        """Make the whole ledger ``atoms`` of ``symbol``'s money (a single runner restoring its account)."""
        self.cash_units = atoms * self.scale[symbol]

    # -- positions and marks --------------------------------------------------------------------------
    def mark(self, symbol: str, ticks: int) -> None:
        self.marks[symbol] = ticks

    def value_units(self, symbol: str) -> int:
        """The position's marked value (negative for a short)."""
        return self.steps[symbol] * self.marks[symbol] * self.scale[symbol]

    def equity_units(self) -> int:
        return self.cash_units + sum(self.steps[s] * self.marks[s] * self.scale[s] for s in self.symbols)

    @property
    def equity(self) -> Decimal:
        return self.from_units(self.equity_units())

    def equity_atoms(self, symbol: str) -> int:
        """The portfolio's equity in ``symbol``'s atoms, rounded down (what its sizing works on)."""
        return self.equity_units() // self.scale[symbol]

    def exposure_units(self) -> int:
        """Σ |marked position| over every symbol."""
        return sum(abs(self.value_units(s)) for s in self.symbols)

    def open_positions(self) -> int:
        return sum(1 for s in self.symbols if self.steps[s] != 0)

    def positions_taken(self) -> int:
        """Symbols holding a position or working an entry (what a limit on open positions counts)."""
        return sum(1 for s in self.symbols if self.steps[s] != 0 or s in self.entering)

    def others_units(self, symbol: str) -> int:
        """Marked value of every position but ``symbol``'s."""
        return sum(self.value_units(s) for s in self.symbols if s != symbol)
