"""The exchange's own view of one symbol, read through ccxt, for reconciliation and for booking fills.

Everything here is a read, so every call goes through the shared retry policy
(:class:`tradewarden.data.retry.RetryPolicy`). Amounts are exact: Binance sends decimal strings, which ccxt
turns into floats; we take the raw strings from ``info`` when they are there and fall back to the unified
fields (through ``str``, which gives back the shortest decimal the float came from) for other exchanges.

What comes back is shaped for :func:`tradewarden.venues.reconcile.reconcile`: open orders as
:class:`OpenOrderView` (keyed by client order id), balances as total (free + locked) per asset, and the
recent fills as :class:`ExchangeFill` with the exchange's trade id, the thing fills are deduplicated by; on
request also the recent orders, open or not (:func:`tradewarden.venues.reconcile.foreign_orders` looks in
them for another writer's).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.orders import OrderSide
from tradewarden.venues.reconcile import OpenOrderView

T = TypeVar("T")

_QUERY = re.compile(r"\?\S*")


class ExchangeViewError(RuntimeError):
    """The exchange's view could not be read (it kept failing, or answered something malformed)."""


def short_error(exc: BaseException) -> str:
    """An exception as one short line, without URL query strings (they carry request signatures)."""
    return f"{type(exc).__name__}: {_QUERY.sub('?…', str(exc))[:300]}"


def exact(record: Mapping[str, Any], raw_key: str, unified_key: str, what: str) -> Decimal:
    """A decimal from ``record['info'][raw_key]`` (exchange text) or else ``record[unified_key]``."""
    info = record.get("info")
    raw = info.get(raw_key) if isinstance(info, Mapping) else None
    value = raw if raw is not None else record.get(unified_key)
    if value is None:
        raise ExchangeViewError(f"{what}: field {unified_key!r} is missing")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ExchangeViewError(f"{what}: field {unified_key!r} is not a number ({value!r})") from None
    if not number.is_finite():
        raise ExchangeViewError(f"{what}: field {unified_key!r} is not finite ({value!r})")
    return number


@dataclass(frozen=True, slots=True)
class ExchangeFill:
    """One execution as the exchange recorded it; ``fee`` is in ``fee_asset`` (not necessarily the quote)."""

    trade_id: str
    order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    ts: int
    maker: bool

    @classmethod
    def from_ccxt(cls, trade: Mapping[str, Any]) -> ExchangeFill:
        """From a ccxt trade structure (``fetch_my_trades``); malformed records raise :class:`ExchangeViewError`."""
        trade_id = trade.get("id")
        what = f"trade {trade_id}"
        if trade_id is None or trade.get("order") is None:
            raise ExchangeViewError(f"{what}: the exchange sent a trade without trade id or order id")
        side = str(trade.get("side") or "")
        if side not in ("buy", "sell"):
            raise ExchangeViewError(f"{what}: unknown side {side!r}")
        info = trade.get("info")
        fee = trade.get("fee") or {}
        fee_asset = str((info or {}).get("commissionAsset") or fee.get("currency") or "")
        fee_cost = exact({"info": info, "cost": fee.get("cost", 0)}, "commission", "cost", what)
        return cls(
            trade_id=str(trade_id),
            order_id=str(trade["order"]),
            symbol=str(trade.get("symbol") or ""),
            side=OrderSide(side),
            qty=exact(trade, "qty", "amount", what),
            price=exact(trade, "price", "price", what),
            fee=fee_cost,
            fee_asset=fee_asset,
            ts=int(trade.get("timestamp") or 0),
            maker=trade.get("takerOrMaker") == "maker",
        )


@dataclass(frozen=True)
class ExchangeView:
    """Open orders, total balances per asset, recent fills (oldest first) and, when asked for, the recent
    orders whatever their status, of one symbol."""

    open_orders: list[OpenOrderView]
    balances: dict[str, Decimal]
    fills: list[ExchangeFill]
    recent_orders: list[OpenOrderView] = field(default_factory=list)


def open_order_view(order: Mapping[str, Any]) -> OpenOrderView:
    """An open order from ccxt's order structure, keyed by its client order id."""
    what = f"order {order.get('id')}"
    client_id = order.get("clientOrderId") or (order.get("info") or {}).get("clientOrderId")
    if not client_id:
        raise ExchangeViewError(f"{what}: the exchange sent an order without client order id")
    return OpenOrderView(
        client_id=str(client_id),
        symbol=str(order.get("symbol") or ""),
        side=str(order.get("side") or ""),
        qty=exact(order, "origQty", "amount", what),
        filled=exact(order, "executedQty", "filled", what),
        exchange_id=None if order.get("id") is None else str(order["id"]),
        price=_positive(order, "price", "price", what),
        stop_price=_positive(order, "stopPrice", "triggerPrice", what),
    )


def _positive(order: Mapping[str, Any], raw_key: str, unified_key: str, what: str) -> Decimal | None:
    """An optional price (Binance sends ``"0.00000000"`` for none)."""
    info = order.get("info")
    raw = info.get(raw_key) if isinstance(info, Mapping) else None
    if raw is None and order.get(unified_key) is None:
        return None
    value = exact(order, raw_key, unified_key, what)
    return value if value > 0 else None


def total_balances(balance: Mapping[str, Any], include_zero: bool = False) -> dict[str, Decimal]:
    """Free + locked per asset from ccxt's ``fetch_balance`` answer (Binance's raw strings when present)."""
    out: dict[str, Decimal] = {}
    raw = (balance.get("info") or {}).get("balances") if isinstance(balance.get("info"), Mapping) else None
    if isinstance(raw, list):
        for row in raw:
            asset = str(row.get("asset") or "")
            free = exact({"info": row}, "free", "free", f"balance {asset}")
            locked = exact({"info": row}, "locked", "locked", f"balance {asset}")
            out[asset] = free + locked
    else:
        for asset, amount in (balance.get("total") or {}).items():
            if amount is not None:
                out[str(asset)] = exact({"total": amount}, "total", "total", f"balance {asset}")
    return {a: v for a, v in sorted(out.items()) if include_zero or v != 0}


def read(policy: RetryPolicy, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """One read through the retry policy; a final failure becomes :class:`ExchangeViewError` naming ``what``."""
    import ccxt

    try:
        return policy.call(fn, *args, label=what, **kwargs)
    except ccxt.BaseError as exc:
        raise ExchangeViewError(f"{what}: {short_error(exc)}") from None


def fetch_exchange_view(exchange: Any, symbol: str, *, since_ms: int | None = None,
                        retry: RetryPolicy | None = None, include_zero: bool = False,
                        recent_orders: bool = False) -> ExchangeView:
    """Read open orders, balances and fills (since ``since_ms``, else the exchange's recent ones) of ``symbol``;
    with ``recent_orders`` also its recent orders of any status (Binance: the newest 500).

    Raises :class:`ExchangeViewError` naming the call and the exchange when a read keeps failing.
    """
    policy = retry or RetryPolicy(exchange=exchange)
    name = getattr(exchange, "id", "exchange")
    read(policy, f"{name} load_markets", exchange.load_markets)
    orders = read(policy, f"{name} fetch_open_orders {symbol}", exchange.fetch_open_orders, symbol)
    balance = read(policy, f"{name} fetch_balance", exchange.fetch_balance)
    trades = read(policy, f"{name} fetch_my_trades {symbol}", exchange.fetch_my_trades, symbol, since_ms, 1000)
    fills = sorted((ExchangeFill.from_ccxt(t) for t in trades), key=lambda f: (f.ts, _id_key(f.trade_id)))
    recent = read(policy, f"{name} fetch_orders {symbol}", exchange.fetch_orders, symbol) if recent_orders else []
    return ExchangeView(
        open_orders=[open_order_view(o) for o in orders],
        balances=total_balances(balance, include_zero),
        fills=fills,
        recent_orders=[open_order_view(o) for o in recent],
    )


def _id_key(trade_id: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order (Binance's are integers), any others after them as text."""
    return (0, int(trade_id)) if trade_id.isdigit() else (1, trade_id)


def trade_order_key(fill: ExchangeFill) -> tuple[int, int | str]:
    """The order in which one order's trades are booked (by trade id): stable across restarts."""
    return _id_key(fill.trade_id)
