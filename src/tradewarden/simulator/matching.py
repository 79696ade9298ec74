"""The matching engine: validates orders like Binance, locks balances, fills against the replayed price path.

Fill rules (all deterministic):

* MARKET buys fill at the best ask, sells at the best bid, at once; what cannot fill (volume share,
  partial-fill mode) expires, as on Binance.
* A LIMIT order that crosses when placed fills at once at the best ask/bid (taker); the rest rests (GTC) or
  expires (IOC); FOK fills completely or expires untouched. LIMIT_MAKER that would cross is rejected.
* A resting LIMIT fills at its own price (maker) on the first price step where the ask (buy) or bid (sell)
  reaches it.
* STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT wait until the last price crosses the stop price, then work as a limit
  order (taker on that step if it crosses, maker after).
* One order fills at most ``volume_share`` of a candle's volume in that candle; in partial-fill mode each
  match fills at most half of what is left.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from tradewarden.domain.instrument import FilterViolation
from tradewarden.simulator.account import Account
from tradewarden.simulator.errors import INVALID_SYMBOL, BinanceError, mandatory
from tradewarden.simulator.formats import account_position, execution_report
from tradewarden.simulator.market import SymbolMarket
from tradewarden.simulator.numbers import commission, parse_decimal, to_grid
from tradewarden.simulator.orders import (
    LIMIT_TYPES,
    ORDER_TYPES,
    STOP_TYPES,
    TIME_IN_FORCE,
    ZERO,
    Fill,
    SimOrder,
)

CLIENT_ID = re.compile(r"^[.A-Za-z0-9:/_-]{1,36}$")
FIRST_TRADE_ID = 1_000_000_000  # own fills get ids far from the replayed tape's


class MatchingEngine:
    def __init__(
        self,
        markets: Mapping[str, SymbolMarket],
        account: Account,
        fee_rate: Decimal,
        volume_share: Decimal,
        clock: Callable[[], int],
        emit: Callable[[dict[str, Any]], None],
    ) -> None:
        self.markets = markets  # by exchange id (BTCUSDT)
        self.account = account
        self.fee_rate = fee_rate
        self.volume_share = volume_share
        self.clock = clock
        self.emit = emit
        self.partial_only = False
        self.orders: dict[int, SimOrder] = {}
        self.open: dict[str, dict[int, SimOrder]] = {sym: {} for sym in markets}
        self.by_client_id: dict[tuple[str, str], int] = {}  # (symbol, client id) -> latest order id
        self.fills: list[Fill] = []
        self._next_order = 1
        self._next_trade = FIRST_TRADE_ID
        self._next_exec = 1

    # -- lookups -------------------------------------------------------------------------------
    def market(self, params: Mapping[str, str]) -> SymbolMarket:
        sym = params.get("symbol")
        if not sym:
            raise mandatory("symbol")
        m = self.markets.get(sym)
        if m is None:
            raise BinanceError(*INVALID_SYMBOL)
        return m

    def find(self, params: Mapping[str, str], missing: tuple[int, str]) -> SimOrder:
        m = self.market(params)
        oid, cid = params.get("orderId"), params.get("origClientOrderId")
        if not oid and not cid:
            raise BinanceError(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        if oid:
            if not oid.isdigit():
                raise BinanceError(
                    -1100, "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'."
                )
            order = self.orders.get(int(oid))
        else:
            found = self.by_client_id.get((m.market_id, cid or ""))
            order = self.orders.get(found) if found is not None else None
        if order is None or order.symbol != m.market_id or (oid and cid and order.client_id != cid):
            raise BinanceError(*missing)
        return order

    # -- placing -------------------------------------------------------------------------------
    def place(self, params: Mapping[str, str]) -> tuple[SimOrder, list[Fill], str]:
        """Validate and place one order; returns it, its immediate fills and the response type asked for."""
        m = self.market(params)
        side = params.get("side", "")
        if not side:
            raise mandatory("side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        otype = params.get("type", "")
        if not otype:
            raise mandatory("type")
        if otype not in ORDER_TYPES:
            raise BinanceError(-1116, "Invalid orderType.")
        tif = params.get("timeInForce", "")
        if otype in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
            if not tif:
                raise mandatory("timeInForce")
            if tif not in TIME_IN_FORCE:
                raise BinanceError(-1115, "Invalid timeInForce.")
        elif tif and otype != "LIMIT_MAKER":
            raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
        qty = self._num(params, "quantity")
        quote_qty = self._num(params, "quoteOrderQty")
        price = self._num(params, "price")
        stop = self._num(params, "stopPrice")
        if otype in LIMIT_TYPES and price is None:
            raise mandatory("price")
        if otype in STOP_TYPES and stop is None:
            raise mandatory("stopPrice")
        if otype != "MARKET" and qty is None:
            raise mandatory("quantity")
        if otype == "MARKET" and (qty is None) == (quote_qty is None):
            raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but not both.")
        resp_type = params.get("newOrderRespType") or ("FULL" if otype in ("MARKET", "LIMIT") else "ACK")
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceError(-1100, "Illegal characters found in parameter 'newOrderRespType'.")
        client_id = params.get("newClientOrderId") or f"sim-{self._next_order}"
        if not CLIENT_ID.match(client_id):
            raise BinanceError(
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; "
                "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
            )
        inst = m.instrument
        if otype == "MARKET" and quote_qty is not None:
            ref = m.ask if side == "BUY" else m.bid
            qty = to_grid(quote_qty / ref, inst.step_size, "down") if ref else ZERO
        assert qty is not None
        try:
            inst.check(qty, price if price is not None else m.last_price)
            if stop is not None:
                inst.check(qty, stop)
        except FilterViolation as exc:
            raise BinanceError(-1013, f"Filter failure: {exc.filter_name}") from None
        if stop is not None and self._triggered(otype, side, stop, m.last_price):
            raise BinanceError(-2010, "Order would trigger immediately.")
        if otype == "LIMIT_MAKER" and price is not None and self._crosses(side, price, m):
            raise BinanceError(-2010, "Order would immediately match and take.")
        if any(o.client_id == client_id for o in self.open[m.market_id].values()):
            raise BinanceError(-2010, "Duplicate order sent.")
        now = self.clock()
        order = SimOrder(
            self._next_order,
            client_id,
            m.market_id,
            side,
            otype,
            tif or "GTC",
            qty,
            price or ZERO,
            stop or ZERO,
            quote_qty or ZERO,
            now,
            now,
            -1 if otype in STOP_TYPES else now,
        )
        self._reserve(order, m)
        self._next_order += 1
        self.orders[order.id] = order
        self.by_client_id[(m.market_id, client_id)] = order.id
        self._report(order, "NEW")
        fills: list[Fill] = []
        if otype == "MARKET":
            fills = self._take(order, m, order.remaining)
            self._finish_taker(order)
        elif otype in ("LIMIT", "LIMIT_MAKER"):
            fills = self._place_limit(order, m)
        else:
            self.open[m.market_id][order.id] = order
        self._publish_balances()
        return order, fills, resp_type

    @staticmethod
    def _num(params: Mapping[str, str], name: str) -> Decimal | None:
        raw = params.get(name)
        return None if raw is None or raw == "" else parse_decimal(name, raw)

    def _reserve(self, order: SimOrder, m: SymbolMarket) -> None:
        inst = m.instrument
        if order.type == "MARKET":  # paid at once from free balance, checked against the current quote
            if order.is_buy:
                self.account.require_free(inst.quote, order.qty * m.ask)
            else:
                self.account.require_free(inst.base, order.qty)
            return
        asset, amount = (inst.quote, order.qty * order.price) if order.is_buy else (inst.base, order.qty)
        self.account.lock(asset, amount)
        order.lock_asset, order.locked = asset, amount

    @staticmethod
    def _crosses(side: str, price: Decimal, m: SymbolMarket) -> bool:
        return m.ask <= price if side == "BUY" else m.bid >= price

    @staticmethod
    def _triggered(otype: str, side: str, stop: Decimal, last: Decimal) -> bool:
        falls = (otype == "STOP_LOSS_LIMIT") == (
            side == "SELL"
        )  # sell stops and buy take-profits fire on a fall
        return last <= stop if falls else last >= stop

    def _place_limit(self, order: SimOrder, m: SymbolMarket) -> list[Fill]:
        fills: list[Fill] = []
        if self._crosses(order.side, order.price, m):
            if order.tif == "FOK" and self._fillable(order, m) < order.remaining:
                order.status = "EXPIRED"
                self._release(order)
                self._report(order, "EXPIRED")
                return fills
            fills = self._take(order, m, order.remaining)
        if order.tif == "GTC" and order.is_open:
            self.open[m.market_id][order.id] = order
        else:
            self._finish_taker(order)
        return fills

    def _finish_taker(self, order: SimOrder) -> None:
        if order.is_open:  # an immediate order's unfilled rest expires
            order.status = "EXPIRED"
            order.update_time = self.clock()
            self._release(order)
            self._report(order, "EXPIRED")

    # -- matching on each price step -----------------------------------------------------------
    def on_step(self, m: SymbolMarket) -> None:
        book = self.open[m.market_id]
        if not book:
            return
        for order in sorted(book.values(), key=lambda o: o.id):
            if order.working_time == -1:
                if not self._triggered(order.type, order.side, order.stop_price, m.last_price):
                    continue
                order.working_time = self.clock()
                if self._crosses(order.side, order.price, m):
                    self._take(order, m, order.remaining)
            elif self._crosses(order.side, order.price, m):
                self._fill(order, m, order.price, self._fill_qty(order, m), maker=True)
            if not order.is_open:
                del book[order.id]
        self._publish_balances()

    def _fillable(self, order: SimOrder, m: SymbolMarket) -> Decimal:
        cap = m.step_capacity(self.volume_share)
        used = order.candle_filled if order.candle == m.current else ZERO
        return max(cap - used, ZERO)

    def _fill_qty(self, order: SimOrder, m: SymbolMarket) -> Decimal:
        qty = min(order.remaining, self._fillable(order, m))
        step = m.instrument.step_size
        if self.partial_only and qty > step:
            qty = min(qty, max(step, to_grid(order.remaining / 2, step, "down")))
        return qty

    def _take(self, order: SimOrder, m: SymbolMarket, _want: Decimal) -> list[Fill]:
        price = m.ask if order.is_buy else m.bid
        fill = self._fill(order, m, price, self._fill_qty(order, m), maker=False)
        return [fill] if fill else []

    def _fill(
        self, order: SimOrder, m: SymbolMarket, price: Decimal, qty: Decimal, maker: bool
    ) -> Fill | None:
        if qty <= 0:
            return None
        inst, acc = m.instrument, self.account
        cost = price * qty
        if order.is_buy:
            if order.lock_asset:
                reserved = qty * order.price
                acc.spend_locked(inst.quote, reserved)
                order.locked -= reserved
                acc.add(inst.quote, reserved - cost)  # price improvement comes back
            else:
                acc.add(inst.quote, -cost)
            fee, fee_asset = commission(qty, self.fee_rate), inst.base
            acc.add(inst.base, qty)
        else:
            if order.lock_asset:
                acc.spend_locked(inst.base, qty)
                order.locked -= qty
            else:
                acc.add(inst.base, -qty)
            fee, fee_asset = commission(cost, self.fee_rate), inst.quote
            acc.add(inst.quote, cost)
        acc.pay_fee(fee_asset, fee)
        now = self.clock()
        acc.update_time = now
        if order.candle != m.current:
            order.candle, order.candle_filled = m.current if m.current is not None else -1, ZERO
        order.candle_filled += qty
        order.executed += qty
        order.cum_quote += cost
        order.update_time = now
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        fill = Fill(
            self._next_trade, order.id, order.symbol, order.side, price, qty, cost, fee, fee_asset, now, maker
        )
        self._next_trade += 1
        self.fills.append(fill)
        self._report(order, "TRADE", fill)
        return fill

    # -- cancel --------------------------------------------------------------------------------
    def cancel(self, params: Mapping[str, str]) -> SimOrder:
        order = self.find(params, (-2011, "Unknown order sent."))
        if not order.is_open:
            raise BinanceError(-2011, "Unknown order sent.")
        restriction = params.get("cancelRestrictions")
        if (restriction == "ONLY_NEW" and order.status != "NEW") or (
            restriction == "ONLY_PARTIALLY_FILLED" and order.status != "PARTIALLY_FILLED"
        ):
            raise BinanceError(-2011, "Order was not canceled due to cancel restrictions.")
        order.status = "CANCELED"
        order.update_time = self.clock()
        self.open[order.symbol].pop(order.id, None)
        self._release(order)
        self._report(order, "CANCELED", orig_client_id=order.client_id)
        self._publish_balances()
        return order

    def _release(self, order: SimOrder) -> None:
        if order.lock_asset and order.locked:
            self.account.unlock(order.lock_asset, order.locked)
            order.locked = ZERO

    # -- user data events ----------------------------------------------------------------------
    def _report(
        self, order: SimOrder, exec_type: str, fill: Fill | None = None, orig_client_id: str = ""
    ) -> None:
        self.emit(execution_report(order, exec_type, self.clock(), self._next_exec, fill, orig_client_id))
        self._next_exec += 1

    def _publish_balances(self) -> None:
        changed = self.account.drain_changed()
        if changed:
            self.emit(account_position(self.account, changed, self.clock()))
