"""The REST API under ``/api/v3``: public market data and the signed account and order endpoints; and
under ``/sapi/v1`` the one wallet endpoint a bot reads at boot, the key's permissions.

A middleware keeps the simulated clock current (accelerated mode), applies armed HTTP faults, turns
:class:`BinanceError` into Binance's error body and adds the ``x-mbx-used-weight-1m`` header to every answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from tradewarden.simulator.errors import DEFAULT_MESSAGES, INVALID_SYMBOL, BinanceError, mandatory
from tradewarden.simulator.faults import HTTP_KINDS, ArmedFault
from tradewarden.simulator.formats import (
    account_json,
    api_restrictions,
    cancel_response,
    exchange_info,
    kline_row,
    my_trade,
    new_order_response,
    order_json,
    ticker_24h,
)
from tradewarden.simulator.market import SymbolMarket
from tradewarden.simulator.numbers import fmt
from tradewarden.simulator.streams import interval_ms

if TYPE_CHECKING:
    from tradewarden.simulator.server import SimServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WEIGHTS = {
    "exchangeInfo": 20,
    "time": 1,
    "ping": 1,
    "klines": 2,
    "ticker/24hr": 2,
    "account": 20,
    "order": 1,
    "openOrders": 6,
    "myTrades": 20,
    "allOrders": 20,
    "ticker/price": 2,
    "ticker/bookTicker": 2,
}
NOT_JSON = "<html><head><title>{status}</title></head><body><h1>{status}</h1>simulated failure</body></html>"


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _int(params: dict[str, str], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit():
        raise BinanceError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
        )
    return int(raw)


class RestApi:
    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.weight_minute = 0
        self.weight_used = 0
        self.orders_10s: deque[float] = deque()
        self.orders_day = 0
        self.held_answers: list[asyncio.Event] = []  # order answers held by the hold_order_answer fault

    def release_held(self) -> int:
        """Let every held order answer go; how many there were."""
        held, self.held_answers = self.held_answers, []
        for release in held:
            release.set()
        return len(held)

    # -- plumbing ------------------------------------------------------------------------------
    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(("/api/", "/sapi/")):
            return await handler(request)
        srv = self.server
        srv.sync_clock()
        endpoint = request.path.removeprefix("/api/v3/")
        minute = int(time.time() // 60)
        if minute != self.weight_minute:
            self.weight_minute, self.weight_used = minute, 0
        self.weight_used += WEIGHTS.get(endpoint, 1)
        response: web.StreamResponse
        fault = srv.faults.take(HTTP_KINDS, path=request.path, method=request.method)
        if fault is not None and fault.kind == "slow_responses":
            await asyncio.sleep(fault.params["delay_ms"] / 1000)
            fault = None
        if fault is not None:
            response = self._fault_response(fault)
        else:
            try:
                response = await handler(request)
            except BinanceError as exc:
                response = json_response(exc.body(), exc.status)
            except web.HTTPException:
                raise
            except Exception as exc:  # a simulator bug must still look like an exchange answer, and be logged
                srv.log_internal_error(request, exc)
                response = json_response(BinanceError(-1000, DEFAULT_MESSAGES[-1000]).body(), 500)
        response.headers["x-mbx-used-weight"] = str(self.weight_used)
        response.headers["x-mbx-used-weight-1m"] = str(self.weight_used)
        srv.log_request(request.method, request.path, response.status, request.headers.get("User-Agent", ""))
        return response

    def _fault_response(self, fault: ArmedFault) -> web.Response:
        p = fault.params
        headers: dict[str, str] = {}
        if fault.kind == "rate_limit":
            headers["retry-after"] = str(p["retry_after"])
            resp = json_response(
                {
                    "code": -1003,
                    "msg": DEFAULT_MESSAGES[-1003] + " Please use WebSocket Streams "
                    "for live updates to avoid polling the API.",
                },
                429,
            )
        elif fault.kind == "ban":
            headers["retry-after"] = str(p["retry_after"])
            until = self.server.server_time() + p["retry_after"] * 1000
            resp = json_response(
                {
                    "code": -1003,
                    "msg": f"Way too much request weight used; IP banned until "
                    f"{until}. Please use WebSocket Streams for live updates to avoid bans.",
                },
                418,
            )
        elif fault.kind == "server_errors":
            resp = web.Response(
                text=NOT_JSON.format(status=p["status"]), status=p["status"], content_type="text/html"
            )
        else:  # http_error
            status = p["status"]
            if p["body"] is not None:
                resp = web.Response(text=p["body"], status=status, content_type="text/plain")
            elif p["code"] is not None:
                resp = json_response(
                    {"code": p["code"], "msg": p["msg"] or DEFAULT_MESSAGES.get(p["code"], "Error.")}, status
                )
            else:
                resp = web.Response(
                    text=NOT_JSON.format(status=status), status=status, content_type="text/html"
                )
            if p["retry_after"] is not None:
                headers["retry-after"] = str(p["retry_after"])
        resp.headers.update(headers)
        return resp

    def routes(self) -> list[web.RouteDef]:
        g, p, d = web.get, web.post, web.delete
        return [
            g("/api/v3/ping", self.ping),
            g("/api/v3/time", self.time),
            g("/api/v3/exchangeInfo", self.exchange_info),
            g("/api/v3/klines", self.klines),
            g("/api/v3/ticker/24hr", self.ticker),
            g("/api/v3/ticker/price", self.ticker_price),
            g("/api/v3/ticker/bookTicker", self.book_ticker),
            g("/api/v3/account", self.account),
            p("/api/v3/order", self.new_order),
            g("/api/v3/order", self.get_order),
            d("/api/v3/order", self.cancel_order),
            g("/api/v3/openOrders", self.open_orders),
            g("/api/v3/allOrders", self.all_orders),
            g("/api/v3/myTrades", self.my_trades),
            g("/sapi/v1/account/apiRestrictions", self.api_restrictions),
        ]

    async def _signed(self, request: web.Request) -> dict[str, str]:
        raw_query = request.rel_url.raw_query_string
        raw_body = (await request.read()).decode("utf-8", "replace")
        params = dict(parse_qsl(raw_body, keep_blank_values=True))
        params.update(parse_qsl(raw_query, keep_blank_values=True))  # the query wins, as on Binance
        self.server.auth.check_rest(request.headers.get("X-MBX-APIKEY"), raw_query, raw_body, params)
        return params

    def _market(self, params: dict[str, str] | Any) -> SymbolMarket:
        sym = params.get("symbol")
        if not sym:
            raise mandatory("symbol")
        m = self.server.exchange.markets.get(sym)
        if m is None:
            raise BinanceError(*INVALID_SYMBOL)
        return m

    # -- public --------------------------------------------------------------------------------
    async def ping(self, request: web.Request) -> web.Response:
        return json_response({})

    async def time(self, request: web.Request) -> web.Response:
        return json_response({"serverTime": self.server.server_time()})

    async def exchange_info(self, request: web.Request) -> web.Response:
        markets = list(self.server.exchange.markets.values())
        if "symbol" in request.query:
            markets = [self._market(request.query)]
        return json_response(exchange_info(markets, self.server.server_time()))

    async def klines(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        m = self._market(q)
        name = q.get("interval")
        if not name:
            raise mandatory("interval")
        ms = interval_ms(name, self.server.exchange.tf_ms)
        if ms is None:
            raise BinanceError(-1120, "Invalid interval.")
        limit = min(max(_int(q, "limit", 500) or 500, 1), 1000)
        now = self.server.exchange.now_ms
        rows = m.klines(ms, _int(q, "startTime"), _int(q, "endTime"), limit, now)
        return json_response([kline_row(k) for k in rows])

    def _tickers(self, q: Any) -> list[SymbolMarket]:
        return [self._market(q)] if "symbol" in q else list(self.server.exchange.markets.values())

    async def ticker(self, request: web.Request) -> web.Response:
        now = self.server.exchange.now_ms
        out = [ticker_24h(m, m.ticker(now)) for m in self._tickers(request.query)]
        return json_response(out[0] if "symbol" in request.query else out)

    async def ticker_price(self, request: web.Request) -> web.Response:
        out = [{"symbol": m.market_id, "price": fmt(m.last_price)} for m in self._tickers(request.query)]
        return json_response(out[0] if "symbol" in request.query else out)

    async def book_ticker(self, request: web.Request) -> web.Response:
        out = [
            {
                "symbol": m.market_id,
                "bidPrice": fmt(m.bid),
                "bidQty": "1.00000000",
                "askPrice": fmt(m.ask),
                "askQty": "1.00000000",
            }
            for m in self._tickers(request.query)
        ]
        return json_response(out[0] if "symbol" in request.query else out)

    # -- signed --------------------------------------------------------------------------------
    async def account(self, request: web.Request) -> web.Response:
        await self._signed(request)
        ex = self.server.exchange
        return json_response(account_json(ex.account, int(ex.config.fee_rate * 10000)))

    async def api_restrictions(self, request: web.Request) -> web.Response:
        await self._signed(request)
        ex = self.server.exchange
        return json_response(api_restrictions(ex.config.key_can_withdraw, ex.start_ms))

    async def new_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        srv = self.server
        reject = srv.faults.take(
            ("reject_next_order",), path=request.path, client_order_id=params.get("newClientOrderId")
        )
        if reject is not None:
            raise BinanceError(reject.params["code"], reject.params["msg"], reject.params["status"])
        order, fills, resp_type = srv.exchange.engine.place(params)
        now = time.monotonic()
        self.orders_10s.append(now)
        while self.orders_10s and self.orders_10s[0] < now - 10:
            self.orders_10s.popleft()
        self.orders_day += 1
        resp = json_response(new_order_response(order, fills, resp_type))
        resp.headers["x-mbx-order-count-10s"] = str(len(self.orders_10s))
        resp.headers["x-mbx-order-count-1d"] = str(self.orders_day)
        lost = srv.faults.take(
            ("ambiguous_order",),
            path=request.path,
            order_id=order.id,
            client_order_id=order.client_id,
            status=order.status,
        )
        held = srv.faults.take(("hold_order_answer",), path=request.path, order_id=order.id,
                               client_order_id=order.client_id)
        if held is not None:  # the order stands; its answer waits for POST /_sim/release
            release = asyncio.Event()
            self.held_answers.append(release)
            await release.wait()
        if lost is not None:
            if lost.params["mode"] == "timeout":  # the order stands; the answer comes too late for the client
                await asyncio.sleep(lost.params["delay_ms"] / 1000)
            else:
                status = lost.params["status"]
                return web.Response(
                    text=NOT_JSON.format(status=status), status=status, content_type="text/html"
                )
        return resp

    async def get_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        order = self.server.exchange.engine.find(params, (-2013, "Order does not exist."))
        return json_response(order_json(order))

    async def cancel_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        engine = self.server.exchange.engine
        order = engine.cancel(params)
        cancel_id = params.get("newClientOrderId") or f"cancel-{order.id}"
        return json_response(cancel_response(order, cancel_id, self.server.exchange.now_ms))

    async def open_orders(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        engine = self.server.exchange.engine
        symbols = [self._market(params).market_id] if params.get("symbol") else list(engine.open)
        orders = sorted((o for s in symbols for o in engine.open[s].values()), key=lambda o: o.id)
        return json_response([order_json(o) for o in orders])

    async def all_orders(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        m = self._market(params)
        start, end = _int(params, "startTime"), _int(params, "endTime")
        from_id = _int(params, "orderId", 0) or 0
        limit = min(_int(params, "limit", 500) or 500, 1000)
        orders = [
            o
            for o in self.server.exchange.engine.orders.values()
            if o.symbol == m.market_id
            and o.id >= from_id
            and (start is None or o.time >= start)
            and (end is None or o.time <= end)
        ]
        return json_response([order_json(o) for o in orders[:limit]])

    async def my_trades(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        m = self._market(params)
        start, end = _int(params, "startTime"), _int(params, "endTime")
        if start is not None and end is not None and end - start > 86_400_000:
            raise BinanceError(-1127, "More than 24 hours between startTime and endTime.")
        order_id, from_id = _int(params, "orderId"), _int(params, "fromId")
        limit = min(_int(params, "limit", 500) or 500, 1000)
        fills = [
            f
            for f in self.server.exchange.engine.fills
            if f.symbol == m.market_id
            and (order_id is None or f.order_id == order_id)
            and (from_id is None or f.trade_id >= from_id)
            and (start is None or f.time >= start)
            and (end is None or f.time <= end)
        ]
        picked = fills[:limit] if (from_id is not None or start is not None) else fills[-limit:]
        return json_response([my_trade(f) for f in picked])
