"""The simulated account: free and locked balances per asset, fees paid, and which assets changed."""

from __future__ import annotations

from decimal import Decimal

from tradewarden.simulator.errors import INSUFFICIENT_BALANCE, BinanceError

ZERO = Decimal(0)


class Account:
    """Balances change only here, so every change is recorded for ``outboundAccountPosition``."""

    def __init__(self, balances: dict[str, Decimal]) -> None:
        self.initial = dict(balances)
        self.free: dict[str, Decimal] = dict(balances)
        self.locked: dict[str, Decimal] = {a: ZERO for a in balances}
        self.fees: dict[str, Decimal] = {}
        self.changed: list[str] = []
        self.update_time = 0

    def _touch(self, asset: str) -> None:
        self.free.setdefault(asset, ZERO)
        self.locked.setdefault(asset, ZERO)
        if asset not in self.changed:
            self.changed.append(asset)

    def require_free(self, asset: str, amount: Decimal) -> None:
        if self.free.get(asset, ZERO) < amount:
            raise BinanceError(-2010, INSUFFICIENT_BALANCE)

    def lock(self, asset: str, amount: Decimal) -> None:
        self.require_free(asset, amount)
        self._touch(asset)
        self.free[asset] -= amount
        self.locked[asset] += amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        self._touch(asset)
        self.locked[asset] -= amount
        self.free[asset] += amount

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        self._touch(asset)
        self.locked[asset] -= amount

    def add(self, asset: str, amount: Decimal) -> None:
        """Credit (or, negative, debit) free balance."""
        self._touch(asset)
        self.free[asset] += amount

    def pay_fee(self, asset: str, amount: Decimal) -> None:
        self._touch(asset)
        self.free[asset] -= amount
        self.fees[asset] = self.fees.get(asset, ZERO) + amount

    def drain_changed(self) -> list[str]:
        changed, self.changed = self.changed, []
        return changed

    def assets(self) -> list[str]:
        return sorted(set(self.free) | set(self.locked))
