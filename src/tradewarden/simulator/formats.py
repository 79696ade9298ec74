"""Binance-shaped JSON payloads: REST bodies, market stream events and user data stream events.

Decimals are printed as strings with eight places and times as integer milliseconds, exactly as Binance
sends them, and keys keep a fixed order so equal states serialise to equal bytes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradewarden.simulator.account import Account
from tradewarden.simulator.market import Kline, SymbolMarket, Ticker24h, Trade
from tradewarden.simulator.numbers import fmt
from tradewarden.simulator.orders import ORDER_TYPES, Fill, SimOrder

ZERO = Decimal(0)
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def exchange_info(markets: list[SymbolMarket], server_time: int) -> dict[str, Any]:
    symbols = []
    for m in markets:
        inst = m.instrument
        symbols.append(
            {
                "symbol": m.market_id,
                "status": "TRADING",
                "baseAsset": inst.base,
                "baseAssetPrecision": 8,
                "quoteAsset": inst.quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": list(ORDER_TYPES),
                "icebergAllowed": False,
                "ocoAllowed": False,
                "otoAllowed": False,
                "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": False,
                "cancelReplaceAllowed": False,
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": fmt(inst.min_price),
                        "maxPrice": fmt(inst.max_price),
                        "tickSize": fmt(inst.tick_size),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": fmt(inst.min_qty),
                        "maxQty": fmt(inst.max_qty),
                        "stepSize": fmt(inst.step_size),
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": fmt(inst.min_notional),
                        "applyMinToMarket": True,
                        "maxNotional": "9000000.00000000",
                        "applyMaxToMarket": False,
                        "avgPriceMins": 0,
                    },
                ],
                "permissions": [],
                "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "NONE",
                "allowedSelfTradePreventionModes": ["NONE"],
            }
        )
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": symbols,
    }


def kline_row(k: Kline) -> list[Any]:
    return [
        k.t,
        fmt(k.o),
        fmt(k.h),
        fmt(k.low),
        fmt(k.c),
        fmt(k.v),
        k.T,
        fmt(k.q),
        k.n,
        fmt(k.V),
        fmt(k.Q),
        "0",
    ]


def kline_event(m: SymbolMarket, k: Kline, interval: str, event_ms: int) -> dict[str, Any]:
    return {
        "e": "kline",
        "E": event_ms,
        "s": m.market_id,
        "k": {
            "t": k.t,
            "T": k.T,
            "s": m.market_id,
            "i": interval,
            "f": k.f,
            "L": k.L,
            "o": fmt(k.o),
            "c": fmt(k.c),
            "h": fmt(k.h),
            "l": fmt(k.low),
            "v": fmt(k.v),
            "n": k.n,
            "x": k.closed,
            "q": fmt(k.q),
            "V": fmt(k.V),
            "Q": fmt(k.Q),
            "B": "0",
        },
    }


def trade_event(m: SymbolMarket, t: Trade) -> dict[str, Any]:
    return {
        "e": "trade",
        "E": t.time,
        "s": m.market_id,
        "t": t.id,
        "p": fmt(t.price),
        "q": fmt(t.qty),
        "T": t.time,
        "m": t.buyer_is_maker,
        "M": True,
    }


def agg_trade_event(m: SymbolMarket, t: Trade) -> dict[str, Any]:
    return {
        "e": "aggTrade",
        "E": t.time,
        "s": m.market_id,
        "a": t.id,
        "p": fmt(t.price),
        "q": fmt(t.qty),
        "f": t.id,
        "l": t.id,
        "T": t.time,
        "m": t.buyer_is_maker,
        "M": True,
    }


def mini_ticker_event(m: SymbolMarket, tk: Ticker24h, event_ms: int) -> dict[str, Any]:
    return {
        "e": "24hrMiniTicker",
        "E": event_ms,
        "s": m.market_id,
        "c": fmt(tk.last),
        "o": fmt(tk.open),
        "h": fmt(tk.high),
        "l": fmt(tk.low),
        "v": fmt(tk.volume),
        "q": fmt(tk.quote_volume),
    }


def _change(tk: Ticker24h) -> tuple[str, str, str]:
    change = tk.last - tk.open
    pct = (change / tk.open * 100).quantize(Decimal("0.001")) if tk.open else ZERO
    wavg = tk.quote_volume / tk.volume if tk.volume else tk.last
    return fmt(change), f"{pct:.3f}", fmt(wavg)


def ticker_event(m: SymbolMarket, tk: Ticker24h, event_ms: int) -> dict[str, Any]:
    p, pp, w = _change(tk)
    return {
        "e": "24hrTicker",
        "E": event_ms,
        "s": m.market_id,
        "p": p,
        "P": pp,
        "w": w,
        "x": fmt(tk.prev_close),
        "c": fmt(tk.last),
        "Q": fmt(tk.last_qty),
        "b": fmt(m.bid),
        "B": "1.00000000",
        "a": fmt(m.ask),
        "A": "1.00000000",
        "o": fmt(tk.open),
        "h": fmt(tk.high),
        "l": fmt(tk.low),
        "v": fmt(tk.volume),
        "q": fmt(tk.quote_volume),
        "O": tk.open_time,
        "C": tk.close_time,
        "F": tk.first_id,
        "L": tk.last_id,
        "n": tk.count,
    }


def book_ticker_event(m: SymbolMarket) -> dict[str, Any]:
    return {
        "u": m.book_update_id,
        "s": m.market_id,
        "b": fmt(m.bid),
        "B": "1.00000000",
        "a": fmt(m.ask),
        "A": "1.00000000",
    }


def ticker_24h(m: SymbolMarket, tk: Ticker24h) -> dict[str, Any]:
    p, pp, w = _change(tk)
    return {
        "symbol": m.market_id,
        "priceChange": p,
        "priceChangePercent": pp,
        "weightedAvgPrice": w,
        "prevClosePrice": fmt(tk.prev_close),
        "lastPrice": fmt(tk.last),
        "lastQty": fmt(tk.last_qty),
        "bidPrice": fmt(m.bid),
        "bidQty": "1.00000000",
        "askPrice": fmt(m.ask),
        "askQty": "1.00000000",
        "openPrice": fmt(tk.open),
        "highPrice": fmt(tk.high),
        "lowPrice": fmt(tk.low),
        "volume": fmt(tk.volume),
        "quoteVolume": fmt(tk.quote_volume),
        "openTime": tk.open_time,
        "closeTime": tk.close_time,
        "firstId": tk.first_id,
        "lastId": tk.last_id,
        "count": tk.count,
    }


def order_json(o: SimOrder) -> dict[str, Any]:
    """The order as GET /api/v3/order and openOrders return it."""
    return {
        "symbol": o.symbol,
        "orderId": o.id,
        "orderListId": -1,
        "clientOrderId": o.client_id,
        "price": fmt(o.price),
        "origQty": fmt(o.qty),
        "executedQty": fmt(o.executed),
        "cummulativeQuoteQty": fmt(o.cum_quote),
        "status": o.status,
        "timeInForce": o.tif,
        "type": o.type,
        "side": o.side,
        "stopPrice": fmt(o.stop_price),
        "icebergQty": "0.00000000",
        "time": o.time,
        "updateTime": o.update_time,
        "isWorking": o.working_time != -1,
        "workingTime": o.working_time,
        "origQuoteOrderQty": fmt(o.quote_qty),
        "selfTradePreventionMode": "NONE",
    }


def new_order_response(o: SimOrder, fills: list[Fill], resp_type: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "symbol": o.symbol,
        "orderId": o.id,
        "orderListId": -1,
        "clientOrderId": o.client_id,
        "transactTime": o.time,
    }
    if resp_type == "ACK":
        return out
    out.update(
        {
            "price": fmt(o.price),
            "origQty": fmt(o.qty),
            "executedQty": fmt(o.executed),
            "origQuoteOrderQty": fmt(o.quote_qty),
            "cummulativeQuoteQty": fmt(o.cum_quote),
            "status": o.status,
            "timeInForce": o.tif,
            "type": o.type,
            "side": o.side,
        }
    )
    if o.stop_price:
        out["stopPrice"] = fmt(o.stop_price)
    out.update({"workingTime": o.working_time, "selfTradePreventionMode": "NONE"})
    if resp_type == "FULL":
        out["fills"] = [
            {
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "commission": fmt(f.commission),
                "commissionAsset": f.commission_asset,
                "tradeId": f.trade_id,
            }
            for f in fills
        ]
    return out


def cancel_response(o: SimOrder, cancel_client_id: str, now: int) -> dict[str, Any]:
    return {
        "symbol": o.symbol,
        "origClientOrderId": o.client_id,
        "orderId": o.id,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": now,
        "price": fmt(o.price),
        "origQty": fmt(o.qty),
        "executedQty": fmt(o.executed),
        "origQuoteOrderQty": fmt(o.quote_qty),
        "cummulativeQuoteQty": fmt(o.cum_quote),
        "status": o.status,
        "timeInForce": o.tif,
        "type": o.type,
        "side": o.side,
        **({"stopPrice": fmt(o.stop_price)} if o.stop_price else {}),
        "selfTradePreventionMode": "NONE",
    }


def my_trade(f: Fill) -> dict[str, Any]:
    return {
        "symbol": f.symbol,
        "id": f.trade_id,
        "orderId": f.order_id,
        "orderListId": -1,
        "price": fmt(f.price),
        "qty": fmt(f.qty),
        "quoteQty": fmt(f.quote_qty),
        "commission": fmt(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time,
        "isBuyer": f.side == "BUY",
        "isMaker": f.is_maker,
        "isBestMatch": True,
    }


def account_json(acc: Account, fee_bps: int) -> dict[str, Any]:
    return {
        "makerCommission": fee_bps,
        "takerCommission": fee_bps,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(Decimal(fee_bps) / 10000),
            "taker": fmt(Decimal(fee_bps) / 10000),
            "buyer": "0.00000000",
            "seller": "0.00000000",
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": acc.update_time,
        "accountType": "SPOT",
        "balances": [
            {"asset": a, "free": fmt(acc.free.get(a, ZERO)), "locked": fmt(acc.locked.get(a, ZERO))}
            for a in acc.assets()
        ],
        "permissions": ["SPOT"],
        "uid": 1,
    }


def execution_report(
    o: SimOrder, exec_type: str, now: int, exec_id: int, fill: Fill | None = None, orig_client_id: str = ""
) -> dict[str, Any]:
    return {
        "e": "executionReport",
        "E": now,
        "s": o.symbol,
        "c": o.client_id,
        "S": o.side,
        "o": o.type,
        "f": o.tif,
        "q": fmt(o.qty),
        "p": fmt(o.price),
        "P": fmt(o.stop_price),
        "F": "0.00000000",
        "g": -1,
        "C": orig_client_id,
        "x": exec_type,
        "X": o.status,
        "r": "NONE",
        "i": o.id,
        "l": fmt(fill.qty if fill else ZERO),
        "z": fmt(o.executed),
        "L": fmt(fill.price if fill else ZERO),
        "n": fmt(fill.commission if fill else ZERO),
        "N": fill.commission_asset if fill else None,
        "T": now,
        "t": fill.trade_id if fill else -1,
        "I": exec_id,
        "w": o.is_open and o.working_time != -1,
        "m": fill.is_maker if fill else False,
        "M": False,
        "O": o.time,
        "Z": fmt(o.cum_quote),
        "Y": fmt(fill.quote_qty if fill else ZERO),
        "Q": fmt(o.quote_qty),
        **({"W": o.working_time} if o.working_time != -1 else {}),
        "V": "NONE",
    }


def account_position(acc: Account, assets: list[str], now: int) -> dict[str, Any]:
    return {
        "e": "outboundAccountPosition",
        "E": now,
        "u": now,
        "B": [{"a": a, "f": fmt(acc.free[a]), "l": fmt(acc.locked[a])} for a in assets],
    }


def api_restrictions(can_withdraw: bool, create_time: int) -> dict[str, Any]:
    """``GET /sapi/v1/account/apiRestrictions``: a spot trading key, withdrawals as configured."""
    return {
        "ipRestrict": False,
        "createTime": create_time,
        "enableReading": True,
        "enableSpotAndMarginTrading": True,
        "enableWithdrawals": can_withdraw,
        "enableInternalTransfer": False,
        "enableMargin": False,
        "enableFutures": False,
        "permitsUniversalTransfer": False,
        "enableVanillaOptions": False,
        "enablePortfolioMarginTrading": False,
    }
