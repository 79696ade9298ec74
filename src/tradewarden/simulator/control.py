"""The control API under ``/_sim/``: clock, state, closed candles, fault injection, scenario, request log.

It is outside the Binance namespace and never affected by injected faults. Bad input answers HTTP 400 with
``{"error": "<what is wrong>"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import yaml
from aiohttp import web

from tradewarden.simulator.client_config import SIMULATOR_NAME
from tradewarden.simulator.errors import SimConfigError
from tradewarden.simulator.exchange import ClosedCandle, EndOfDataError
from tradewarden.simulator.numbers import fmt
from tradewarden.simulator.pricing import CandleBar

if TYPE_CHECKING:
    from tradewarden.simulator.server import SimServer


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error(msg: str, status: int = 400) -> web.Response:
    return _json({"error": msg}, status)


def bar_json(symbol: str, bar: CandleBar) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "ts": bar.ts,
        "open": fmt(bar.open),
        "high": fmt(bar.high),
        "low": fmt(bar.low),
        "close": fmt(bar.close),
        "volume": fmt(bar.volume),
    }


def _closed(rows: list[ClosedCandle]) -> list[dict[str, Any]]:
    return [bar_json(c.symbol, c.bar) for c in rows]


class ControlApi:
    def __init__(self, server: SimServer) -> None:
        self.server = server

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_sim/info", self.info),
            web.get("/_sim/state", self.state),
            web.get("/_sim/time", self.time),
            web.post("/_sim/step", self.step),
            web.post("/_sim/advance", self.advance),
            web.post("/_sim/faults", self.inject),
            web.get("/_sim/faults", self.faults),
            web.delete("/_sim/faults", self.clear),
            web.post("/_sim/release", self.release),
            web.post("/_sim/scenario", self.scenario),
            web.get("/_sim/candles", self.candles),
            web.get("/_sim/requests", self.requests),
        ]

    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise SimConfigError("request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise SimConfigError("request body must be a JSON object")
        return body

    async def info(self, request: web.Request) -> web.Response:
        """What this server is: a bot names an endpoint that answers this as the simulator (BOOT_SEAL)."""
        from tradewarden import __version__

        srv = self.server
        return _json({"simulator": SIMULATOR_NAME, "version": __version__, "symbols": list(srv.exchange.by_symbol),
                      "timeframe": srv.exchange.timeframe})

    async def state(self, request: web.Request) -> web.Response:
        srv = self.server
        srv.sync_clock()
        out = srv.exchange.state()
        out.update(
            {
                "streams": srv.hub.active(),
                "user_subscriptions": srv.users.active(),
                "connections": len(srv.registry.connections),
                "slow_clients_closed": srv.registry.too_slow,
                "speed": srv.config.speed,
                "timeframe": srv.exchange.timeframe,
                "symbols": list(srv.exchange.by_symbol),
                "skew_ms": srv.skew_ms,
            }
        )
        return _json(out)

    async def time(self, request: web.Request) -> web.Response:
        srv = self.server
        srv.sync_clock()
        return _json(
            {
                "now_ms": srv.exchange.now_ms,
                "server_time": srv.server_time(),
                "skew_ms": srv.skew_ms,
                "finished": srv.exchange.finished,
            }
        )

    async def _move(self, request: web.Request, by_candles: bool) -> web.Response:
        srv = self.server
        if srv.config.speed is not None:
            return _error(
                f"the clock runs at speed {srv.config.speed}; step/advance need a stepped clock", 409
            )
        try:
            body = await self._body(request)
            amount = body.get("n", 1) if by_candles else body.get("ms")
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise SimConfigError(f"{'n' if by_candles else 'ms'} must be an integer, got {amount!r}")
            closed = srv.exchange.step(amount) if by_candles else srv.exchange.advance_ms(amount)
        except (SimConfigError, ValueError) as exc:
            return _error(str(exc))
        except EndOfDataError as exc:
            return _error(str(exc), 409)
        await srv.settle()
        return _json({"now_ms": srv.exchange.now_ms, "closed": _closed(closed)})

    async def step(self, request: web.Request) -> web.Response:
        return await self._move(request, True)

    async def advance(self, request: web.Request) -> web.Response:
        return await self._move(request, False)

    async def inject(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
            kind = body.pop("kind", None)
            if not isinstance(kind, str):
                raise SimConfigError("'kind' (string) is required")
            entry = self.server.faults.arm(kind, body)
        except SimConfigError as exc:
            return _error(str(exc))
        await self.server.settle()
        return _json(entry)

    async def faults(self, request: web.Request) -> web.Response:
        f = self.server.faults
        return _json(
            {
                "log": f.log,
                "armed": [
                    {"id": a.id, "kind": a.kind, "params": a.params, "remaining": a.remaining}
                    for a in f.armed
                ],
                "scheduled": [{"at_ms": s.at_ms, "kind": s.kind, "params": s.params} for s in f.scheduled],
            }
        )

    async def clear(self, request: web.Request) -> web.Response:
        self.server.faults.clear()
        return _json({"cleared": True})

    async def release(self, request: web.Request) -> web.Response:
        """Send the answers held by ``hold_order_answer``."""
        held = self.server.rest.release_held()
        self.server.faults.record("released", "hold_order_answer", answers=held)
        return _json({"released": held})

    async def scenario(self, request: web.Request) -> web.Response:
        srv = self.server
        try:
            doc = yaml.safe_load(await request.text())
            entries = doc.get("faults") if isinstance(doc, dict) else doc
            if not isinstance(entries, list):
                raise SimConfigError("scenario: expected a 'faults' list")
            srv.faults.load_scenario(entries, srv.exchange.now_ms, srv.exchange.tf_ms)
        except yaml.YAMLError as exc:
            return _error(f"scenario: not valid YAML ({exc})")
        except SimConfigError as exc:
            return _error(str(exc))
        return _json({"scheduled": len(srv.faults.scheduled)})

    async def candles(self, request: web.Request) -> web.Response:
        srv = self.server
        srv.sync_clock()
        symbol = request.query.get("symbol", "")
        try:
            bars = srv.exchange.closed_candles(symbol)
        except KeyError:
            return _error(f"unknown symbol {symbol!r}; simulated: {list(srv.exchange.by_symbol)}", 404)
        since = request.query.get("since")
        if since is not None and not since.isdigit():
            return _error(f"since must be an integer of milliseconds, got {since!r}")
        cut = int(since) if since else None
        return _json([bar_json(symbol, b) for b in bars if cut is None or b.ts >= cut])

    async def requests(self, request: web.Request) -> web.Response:
        return _json(list(self.server.requests))
