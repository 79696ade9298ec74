"""The kill switch's status and what the caller must do while it is on (a pure plan over open orders)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from tradewarden.domain.orders import Order, OrderSide, OrderType


@dataclass(frozen=True, slots=True)
class KillSwitchStatus:
    active: bool = False
    reason: str = ""
    actor: str = ""
    ts: int = 0
    event_id: int = 0  # the stored event's id (0: not from the store), named by a bot's acknowledgement


@dataclass(frozen=True, slots=True)
class KillSwitchPlan:
    """Cancel these open entry orders (client ids); submit these market close-outs (reduce-only, they pass
    the gate while HALTED)."""

    cancel: tuple[str, ...] = ()
    close: tuple[Order, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.cancel and not self.close


def plan_kill_switch(ts: int, open_orders: Iterable[Order], positions: Mapping[str, Decimal],
                     close_positions: bool) -> KillSwitchPlan:
    """Entry orders (not reduce-only, not final) are cancelled; protective orders stay. With
    ``close_positions`` every position not already being closed at market gets a reduce-only market order.
    Idempotent: calling it again after the caller acted yields nothing new."""
    orders = [o for o in open_orders if not o.status.is_final]
    cancel = tuple(o.client_id for o in orders if not o.reduce_only)
    close: list[Order] = []
    if close_positions:
        for n, (symbol, qty) in enumerate(sorted(positions.items())):
            if qty == 0:
                continue
            side = OrderSide.SELL if qty > 0 else OrderSide.BUY
            closing = sum((o.remaining for o in orders if o.symbol == symbol and o.reduce_only
                           and o.type is OrderType.MARKET and o.side is side), Decimal(0))
            left = abs(qty) - closing
            if left > 0:
                close.append(Order(f"tw-ks-{ts}-{n}", symbol, side, OrderType.MARKET, left,
                                   reduce_only=True, created_ts=ts, reason="kill switch"))
    return KillSwitchPlan(cancel, tuple(close))
