"""The WebSocket API endpoint ``/ws-api/v3``: the user data stream that ccxt.pro's watch_orders uses.

Supported methods: ``userDataStream.subscribe.signature`` (HMAC-signed, §2.3 of the protocol notes),
``userDataStream.unsubscribe``, ``ping`` and ``time``. Events reach subscribers as
``{"subscriptionId": n, "event": {...}}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from tradewarden.simulator.connections import Connection, Registry
from tradewarden.simulator.errors import BinanceError
from tradewarden.simulator.faults import FaultBook
from tradewarden.simulator.signing import Authenticator


class UserStreams:
    def __init__(
        self, auth: Authenticator, faults: FaultBook, registry: Registry, server_time: Callable[[], int]
    ) -> None:
        self.auth = auth
        self.faults = faults
        self.registry = registry
        self.server_time = server_time
        self.subscribers: dict[Connection, dict[int, str]] = {}  # connection -> subscription id -> api key
        self._next_sub: dict[Connection, int] = {}

    def publish(self, event: dict[str, Any]) -> None:
        if not self.subscribers:
            return
        raw = orjson.dumps(event).decode()
        for conn, subs in self.subscribers.items():
            for sub_id in subs:
                conn.send(f'{{"subscriptionId":{sub_id},"event":{raw}}}')

    def active(self) -> int:
        return sum(len(s) for s in self.subscribers.values())

    def _answer(
        self, conn: Connection, rid: Any, result: Any = None, error: BinanceError | None = None
    ) -> None:
        if error is not None:
            body = {"id": rid, "status": error.status, "error": error.body()}
        else:
            body = {"id": rid, "status": 200, "result": result}
        conn.reply(orjson.dumps(body).decode())

    def _handle(self, conn: Connection, text: str) -> None:
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._answer(conn, None, error=BinanceError(-1100, "Request is not valid JSON."))
            return
        if not isinstance(req, dict):
            self._answer(conn, None, error=BinanceError(-1100, "Request must be a JSON object."))
            return
        rid, method, params = req.get("id"), req.get("method"), req.get("params") or {}
        try:
            if not isinstance(params, dict):
                raise BinanceError(-1100, "'params' must be an object.")
            if method == "userDataStream.subscribe.signature":
                key = self.auth.check_ws(params)
                subs = self.subscribers.setdefault(conn, {})
                sub_id = self._next_sub.get(conn, 0)
                self._next_sub[conn] = sub_id + 1
                subs[sub_id] = key
                self._answer(conn, rid, {"subscriptionId": sub_id})
            elif method == "userDataStream.unsubscribe":
                subs = self.subscribers.get(conn, {})
                wanted = params.get("subscriptionId")
                for sub_id in list(subs):
                    if wanted is None or sub_id == wanted:
                        del subs[sub_id]
                self._answer(conn, rid, {})
            elif method == "ping":
                self._answer(conn, rid, {})
            elif method == "time":
                self._answer(conn, rid, {"serverTime": self.server_time()})
            else:
                raise BinanceError(-1100, f"Unknown method {method!r}.")
        except BinanceError as exc:
            self._answer(conn, rid, error=exc)

    async def handle(self, request: web.Request, heartbeat: float) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=heartbeat, compress=False)
        await ws.prepare(request)
        conn = self.registry.open(ws, "user", self.faults)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._handle(conn, msg.data)
        finally:
            self.subscribers.pop(conn, None)
            self._next_sub.pop(conn, None)
            self.registry.discard(conn)
            with contextlib.suppress(Exception):
                await conn.close()
        return ws
