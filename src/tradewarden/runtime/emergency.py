"""The emergency stop's own path to the exchange, for when no bot is running to carry it out.

``tradewarden emergency-stop`` turns the kill switch on and, when a running bot acknowledges it, asks that bot to
flatten (it owns the exchange connection and its books: :mod:`tradewarden.node.commands`). With no bot running,
:func:`flatten_account` does it on the configured exchange through ccxt: for every traded symbol it cancels the
open orders under our client-id prefix (``tw-``; anyone else's are left open and named), then sells the free
balance of the symbol's base asset at market, rounded down to the exchange's step size; an amount under the
exchange's minimum quantity or order value is left as dust and named. Each step is one :class:`Action`, failed
or not: the caller prints and audits them.

The sells carry client ids ``tw-es-<ms>-<n>``. The bot's books do not know them: its next start finds the
account differing from them (``RECONCILE_MISMATCH``) and halts until the operator has looked and starts it with
``--adopt`` (docs/RUNBOOK.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tradewarden.domain.instrument import Rounding
from tradewarden.engine.ids import CLIENT_ID_PREFIX
from tradewarden.venues.markets import MarketFiltersError, instrument_from_market

#: a ccxt exchange object (sync): ccxt ships no type information
CcxtExchange = Any


@dataclass(frozen=True)
class Action:
    """One thing done (or tried): ``kind`` is ``cancel``, ``sell`` or ``leave`` (deliberately not touched)."""

    kind: str
    symbol: str
    subject: str  # a client order id, or an asset
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'' if self.ok else 'FAILED '}{self.kind} {self.symbol} {self.subject}: {self.detail}"


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}".rstrip(": ")


def free_balance(balance: Mapping[str, Any], asset: str) -> Decimal:
    """The free amount of ``asset`` from ccxt's ``fetch_balance`` (Binance's raw text when present)."""
    info = balance.get("info")
    rows = info.get("balances") if isinstance(info, Mapping) else None
    value: object = None
    if isinstance(rows, list):
        value = next((row.get("free") for row in rows if isinstance(row, Mapping) and row.get("asset") == asset),
                     None)
    if value is None:
        entry = balance.get(asset)
        value = entry.get("free") if isinstance(entry, Mapping) else None
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def cancel_ours(exchange: CcxtExchange, symbol: str, prefix: str = CLIENT_ID_PREFIX) -> list[Action]:
    """Cancel the symbol's open orders under ``prefix``; the others are left open (and named)."""
    try:
        orders = exchange.fetch_open_orders(symbol)
    except Exception as exc:  # the exchange's or the network's failure: reported, the next step still tried
        return [Action("cancel", symbol, "(open orders)", False, f"cannot read the open orders: {_error(exc)}")]
    out: list[Action] = []
    for order in orders:
        cid = str(order.get("clientOrderId") or (order.get("info") or {}).get("clientOrderId") or "")
        what = f"{order.get('side')} {order.get('amount')} @ {order.get('price') or 'market'}"
        if not cid.startswith(prefix):
            out.append(Action("leave", symbol, cid or str(order.get("id")), True,
                              f"{what}: not placed by tradewarden, left open"))
            continue
        try:
            exchange.cancel_order(order["id"], symbol)
        except Exception as exc:
            if type(exc).__name__ == "OrderNotFound":  # filled or cancelled meanwhile: nothing left to cancel
                out.append(Action("cancel", symbol, cid, True, f"{what}: already gone"))
            else:
                out.append(Action("cancel", symbol, cid, False, f"{what}: {_error(exc)}"))
            continue
        out.append(Action("cancel", symbol, cid, True, f"{what}: cancelled"))
    return out


def sell_base(exchange: CcxtExchange, symbol: str, balance: Mapping[str, Any], client_id: str) -> Action:
    """Sell the free base balance of ``symbol`` at market, on the exchange's grid; dust is left and named."""
    try:
        inst = instrument_from_market(symbol, exchange.markets)
    except MarketFiltersError as exc:
        return Action("sell", symbol, "?", False, str(exc))
    free = free_balance(balance, inst.base)
    qty = inst.round_qty(free, Rounding.DOWN)
    if qty <= 0:
        return Action("sell", symbol, inst.base, True, f"nothing to sell ({free} {inst.base} free)")
    try:
        price = Decimal(str(exchange.fetch_ticker(symbol)["last"]))
    except Exception as exc:
        return Action("sell", symbol, inst.base, False, f"no price to check the minimum order: {_error(exc)}")
    if (inst.min_qty and qty < inst.min_qty) or (inst.min_notional and qty * price < inst.min_notional):
        return Action("sell", symbol, inst.base, True,
                      f"{free} {inst.base} free is below the exchange's minimum order (min qty {inst.min_qty}, "
                      f"min value {inst.min_notional} {inst.quote}): left as dust")
    try:
        done = exchange.create_order(symbol, "market", "sell", str(qty), None, {"newClientOrderId": client_id})
    except Exception as exc:
        return Action("sell", symbol, inst.base, False, f"market sell of {qty} {inst.base}: {_error(exc)}")
    filled = done.get("filled")
    return Action("sell", symbol, inst.base, True,
                  f"market sell {client_id} of {qty} {inst.base} (of {free} free): {done.get('status') or 'sent'}"
                  + (f", filled {filled}" if filled is not None else ""))


def flatten_account(exchange: CcxtExchange, symbols: Sequence[str], ts: int) -> list[Action]:
    """Cancel our open orders of every symbol, then sell each symbol's free base balance at market."""
    try:
        exchange.load_markets()
    except Exception as exc:
        return [Action("cancel", ",".join(symbols), "(markets)", False, f"cannot load the markets: {_error(exc)}")]
    actions = [a for symbol in symbols for a in cancel_ours(exchange, symbol)]
    try:
        balance = exchange.fetch_balance()  # after the cancels: what they locked is free again
    except Exception as exc:
        return [*actions, Action("sell", ",".join(symbols), "(balances)", False,
                                 f"cannot read the balances: {_error(exc)}")]
    sold = {}  # one sell per base asset, however many symbols share it
    for n, symbol in enumerate(symbols):
        base = symbol.split("/")[0]
        if base in sold:
            continue
        sold[base] = sell_base(exchange, symbol, balance, f"{CLIENT_ID_PREFIX}es-{ts}-{n}")
        actions.append(sold[base])
    return actions
