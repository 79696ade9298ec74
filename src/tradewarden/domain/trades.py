"""A round trip: from the fill that opens a position to the fill that brings it back to zero."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)  # slots: a year of minutes holds ~6,000 of them until the reports
class Trade:
    symbol: str
    side: str             # "long" | "short"
    entry_ts: int         # ms UTC of the first entry fill
    exit_ts: int          # ms UTC of the last exit fill (or the last bar for a trade still open)
    entry_price: Decimal  # average entry price
    exit_price: Decimal   # average exit price
    qty: Decimal
    pnl: Decimal          # net of every fee of the trade, in quote currency
    fees: Decimal
    exit_reason: str      # "signal" | "stop_loss" | "take_profit" | "trailing_stop" | "end_of_data"

    @property
    def return_pct(self) -> float:
        cost = self.entry_price * self.qty
        return float(self.pnl / cost * 100) if cost else 0.0
