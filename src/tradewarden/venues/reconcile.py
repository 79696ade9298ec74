"""Reconciliation as a pure function: what the exchange says against what we recorded.

Anything we cannot explain is a :class:`Mismatch` with a suggestion for the operator; the runtime turns a
non-empty result into ``RECONCILE_MISMATCH`` and halts new orders until the operator decides (``--adopt``
takes the exchange's view).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class OpenOrderView:
    client_id: str
    symbol: str
    side: str
    qty: Decimal
    filled: Decimal
    exchange_id: str | None = None    # what an operator's --adopt needs to take the order over
    price: Decimal | None = None
    stop_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: str          # UNKNOWN_OPEN_ORDER | MISSING_OPEN_ORDER | FILL_MISMATCH | BALANCE_MISMATCH
    subject: str       # client id or asset
    ours: str
    theirs: str
    suggestion: str

    def describe(self) -> str:
        return f"{self.kind} {self.subject}: ours={self.ours} exchange={self.theirs}. {self.suggestion}"


def reconcile(ours_open: Sequence[OpenOrderView], theirs_open: Sequence[OpenOrderView],
              ours_balances: Mapping[str, Decimal], theirs_balances: Mapping[str, Decimal],
              tolerance: Mapping[str, Decimal] | None = None, our_prefix: str = "tw-") -> list[Mismatch]:
    """Compare open orders (by client id) and balances (per asset, within ``tolerance``)."""
    tolerance = tolerance or {}
    out: list[Mismatch] = []
    mine = {o.client_id: o for o in ours_open}
    theirs = {o.client_id: o for o in theirs_open}
    for cid, order in sorted(theirs.items()):
        if cid not in mine:
            who = "placed by this bot but not recorded" if cid.startswith(our_prefix) else "not placed by this bot"
            out.append(Mismatch(
                "UNKNOWN_OPEN_ORDER", cid, "none", f"{order.side} {order.qty} {order.symbol} filled {order.filled}",
                f"An open order {who}. Cancel it on the exchange, or run with --adopt to take it over.",
            ))
        elif order.filled != mine[cid].filled:
            out.append(Mismatch(
                "FILL_MISMATCH", cid, str(mine[cid].filled), str(order.filled),
                "Fills happened that the bot did not record; --adopt books the exchange's fills.",
            ))
    for cid, order in sorted(mine.items()):
        if cid not in theirs:
            out.append(Mismatch(
                "MISSING_OPEN_ORDER", cid, f"{order.side} {order.qty} {order.symbol}", "not open",
                "The exchange no longer has this order open: look it up (filled or cancelled while the bot was "
                "away); --adopt takes the exchange's final state.",
            ))
    for asset in sorted(set(ours_balances) | set(theirs_balances)):
        a = ours_balances.get(asset, Decimal(0))
        b = theirs_balances.get(asset, Decimal(0))
        if abs(a - b) > tolerance.get(asset, Decimal(0)):
            out.append(Mismatch(
                "BALANCE_MISMATCH", asset, str(a), str(b),
                "Balances differ beyond the tolerance (a deposit, withdrawal or trade the bot did not make?); "
                "--adopt takes the exchange's balances.",
            ))
    return out
