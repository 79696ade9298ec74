"""Market streams: ``/ws``, ``/ws/<n>``, ``/stream/ws/<n>`` (raw frames) and ``/stream?streams=`` (combined).

Clients subscribe by URL or with SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS messages. On every price step
the hub builds only the events somebody subscribed to, serialises each once and queues it on every
subscriber's connection.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from tradewarden.domain.candles import TIMEFRAME_MS
from tradewarden.simulator.connections import Connection, Registry
from tradewarden.simulator.faults import FaultBook
from tradewarden.simulator.formats import (
    agg_trade_event,
    book_ticker_event,
    kline_event,
    mini_ticker_event,
    ticker_event,
    trade_event,
)
from tradewarden.simulator.market import Kline, SymbolMarket, Trade

INTERVAL_MS: dict[str, int] = {"1s": 1000, **TIMEFRAME_MS, "3d": 3 * 86_400_000}
_PLAIN = ("trade", "aggTrade", "miniTicker", "ticker", "bookTicker")


def interval_ms(name: str, base_ms: int) -> int | None:
    """Milliseconds of a kline interval the replay can serve (a whole multiple of the data's timeframe)."""
    ms = INTERVAL_MS.get(name)
    return ms if ms is not None and ms >= base_ms and ms % base_ms == 0 else None


class StreamHub:
    def __init__(
        self, markets: dict[str, SymbolMarket], base_ms: int, faults: FaultBook, registry: Registry
    ) -> None:
        self.by_stream_id = {m.stream_id: m for m in markets.values()}
        self.base_ms = base_ms
        self.faults = faults
        self.registry = registry
        self.subs: dict[str, set[Connection]] = {}
        self.klines: dict[str, dict[str, int]] = {}  # stream id -> {interval name: ms} with subscribers

    # -- subscriptions -------------------------------------------------------------------------
    def valid(self, name: str) -> bool:
        sid, _, kind = name.partition("@")
        if sid not in self.by_stream_id:
            return False
        if kind.startswith("kline_"):
            return interval_ms(kind[6:], self.base_ms) is not None
        return kind in _PLAIN

    def subscribe(self, conn: Connection, name: str) -> None:
        conn.subs.add(name)
        self.subs.setdefault(name, set()).add(conn)
        sid, _, kind = name.partition("@")
        if kind.startswith("kline_"):
            ms = interval_ms(kind[6:], self.base_ms)
            assert ms is not None
            self.klines.setdefault(sid, {})[kind[6:]] = ms

    def unsubscribe(self, conn: Connection, name: str) -> None:
        conn.subs.discard(name)
        holders = self.subs.get(name)
        if holders is None:
            return
        holders.discard(conn)
        if not holders:
            del self.subs[name]
            sid, _, kind = name.partition("@")
            if kind.startswith("kline_"):
                self.klines.get(sid, {}).pop(kind[6:], None)

    def active(self) -> list[str]:
        return sorted(self.subs)

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, name: str, payload: dict[str, Any]) -> None:
        holders = self.subs.get(name)
        if not holders:
            return
        raw = orjson.dumps(payload).decode()
        wrapped: str | None = None
        for conn in holders:
            if conn.combined:
                wrapped = wrapped or f'{{"stream":"{name}","data":{raw}}}'
                conn.send(wrapped)
            else:
                conn.send(raw)

    def on_step(self, m: SymbolMarket, trade: Trade | None, now_ms: int) -> None:
        sid = m.stream_id
        if trade is not None:
            if f"{sid}@trade" in self.subs:
                self.publish(f"{sid}@trade", trade_event(m, trade))
            if f"{sid}@aggTrade" in self.subs:
                self.publish(f"{sid}@aggTrade", agg_trade_event(m, trade))
        for name, ms in self.klines.get(sid, {}).items():
            k = m.live if ms == self.base_ms else m.current_window(ms, now_ms)
            if k is not None:
                self.publish(f"{sid}@kline_{name}", kline_event(m, k, name, now_ms))
        wants_mini, wants_full = f"{sid}@miniTicker" in self.subs, f"{sid}@ticker" in self.subs
        if wants_mini or wants_full:
            tk = m.ticker(now_ms)
            if wants_mini:
                self.publish(f"{sid}@miniTicker", mini_ticker_event(m, tk, now_ms))
            if wants_full:
                self.publish(f"{sid}@ticker", ticker_event(m, tk, now_ms))
        if f"{sid}@bookTicker" in self.subs:
            self.publish(f"{sid}@bookTicker", book_ticker_event(m))

    def on_close(self, m: SymbolMarket, final: Kline, now_ms: int) -> None:
        for name, ms in self.klines.get(m.stream_id, {}).items():
            if ms == self.base_ms:
                self.publish(f"{m.stream_id}@kline_{name}", kline_event(m, final, name, now_ms))
            elif now_ms % ms == 0:
                rows = m.klines(ms, None, None, 1, now_ms)
                if rows:
                    self.publish(f"{m.stream_id}@kline_{name}", kline_event(m, rows[-1], name, now_ms))

    # -- the endpoint --------------------------------------------------------------------------
    def _handle_request(self, conn: Connection, text: str) -> None:
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            conn.reply(
                orjson.dumps(
                    {"error": {"code": 3, "msg": "Invalid JSON: expected a JSON object"}, "id": None}
                ).decode()
            )
            return
        rid = req.get("id") if isinstance(req, dict) else None
        if not isinstance(req, dict) or not isinstance(req.get("method"), str):
            self._error(conn, 2, "Invalid request: 'method' must be a string", rid)
            return
        method, params = req["method"], req.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            conn.reply(orjson.dumps({"result": sorted(conn.subs), "id": rid}).decode())
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            self._error(conn, 2, f"Invalid request: unknown method {method!r}", rid)
            return
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            self._error(conn, 1, "Invalid value type: 'params' must be a list of stream names", rid)
            return
        if method == "SUBSCRIBE":
            bad = [p for p in params if not self.valid(p)]
            if bad:
                self._error(conn, 2, f"Invalid request: unknown stream(s) {bad}", rid)
                return
            for p in params:
                self.subscribe(conn, p)
        else:
            for p in params:
                self.unsubscribe(conn, p)
        conn.reply(orjson.dumps({"result": None, "id": rid}).decode())

    @staticmethod
    def _error(conn: Connection, code: int, msg: str, rid: Any) -> None:
        conn.reply(orjson.dumps({"error": {"code": code, "msg": msg}, "id": rid}).decode())

    async def handle(self, request: web.Request, heartbeat: float) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=heartbeat, compress=False)
        await ws.prepare(request)
        names: list[str] = []
        combined = "streams" in request.query
        if combined:
            names = [n for n in request.query["streams"].split("/") if n]
        else:
            tail = request.match_info.get("tail", "")
            names = [n for n in tail.split("/") if "@" in n]
        conn = self.registry.open(ws, "market", self.faults, combined)
        for name in names:
            if self.valid(name):
                self.subscribe(conn, name)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._handle_request(conn, msg.data)
        finally:
            for name in list(conn.subs):
                self.unsubscribe(conn, name)
            self.registry.discard(conn)
            with contextlib.suppress(Exception):
                await conn.close()
        return ws
