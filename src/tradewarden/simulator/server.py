"""The simulator server: one aiohttp application on one port, and the clock that drives the replay.

Routes: REST under ``/api/v3``; market streams at ``/ws``, ``/ws/<n>``, ``/stream/ws/<n>`` and
``/stream?streams=``; the WebSocket API at ``/ws-api/v3``; the control API under ``/_sim/``.

Two clocks, on purpose: the *market* clock is simulated (candle times from the data, stepped or running at
``speed`` times real time) and stamps everything the market and the account do, so runs repeat exactly.
The *request* clock is real time plus any injected skew: it answers ``/api/v3/time`` and checks signed
requests' timestamps, because ccxt signs with the caller's wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import deque
from typing import Any

from aiohttp import web

from tradewarden.simulator.config import SimConfig
from tradewarden.simulator.connections import Registry
from tradewarden.simulator.control import ControlApi
from tradewarden.simulator.exchange import Exchange
from tradewarden.simulator.faults import FaultBook
from tradewarden.simulator.market import Kline, SymbolMarket, Trade
from tradewarden.simulator.rest import RestApi
from tradewarden.simulator.signing import Authenticator
from tradewarden.simulator.streams import StreamHub
from tradewarden.simulator.userstream import UserStreams

log = logging.getLogger("tradewarden.simulator")


class SimServer:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.skew_ms = 0
        self.exchange = Exchange(config, listener=self)
        self.faults = FaultBook(sim_now=lambda: self.exchange.now_ms, apply=self._apply_fault)
        self.registry = Registry(config.ws_send_queue)
        self.auth = Authenticator(config.api_keys, self.server_time)
        self.hub = StreamHub(self.exchange.markets, self.exchange.tf_ms, self.faults, self.registry)
        self.users = UserStreams(self.auth, self.faults, self.registry, self.server_time)
        self.requests: deque[dict[str, Any]] = deque(maxlen=2000)
        self._pending: set[asyncio.Task[Any]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._sim0 = self._wall0 = 0.0
        self.port = 0
        if config.scenario is not None:
            self.faults.load_scenario(config.scenario, self.exchange.start_ms, self.exchange.tf_ms)
        self.rest = RestApi(self)
        self.app = self._build_app()

    # -- clocks --------------------------------------------------------------------------------
    def server_time(self) -> int:
        """The request clock: real time plus injected skew (see the module docstring)."""
        return int(time.time() * 1000) + self.skew_ms

    def live_sim_ms(self) -> int:
        assert self.config.speed is not None
        return int(self._sim0 + (time.monotonic() - self._wall0) * 1000 * self.config.speed)

    def monotonic_at(self, sim_ms: int) -> float:
        """The ``time.monotonic()`` at which the accelerated market clock reaches ``sim_ms``."""
        assert self.config.speed is not None
        return self._wall0 + (sim_ms - self._sim0) / 1000 / self.config.speed

    def sync_clock(self) -> None:
        """In accelerated mode, bring the market up to the simulated now before answering anything."""
        if self.config.speed is not None and self.exchange.started and not self.exchange.finished:
            self.exchange.advance_to(self.live_sim_ms())

    async def _run_clock(self) -> None:
        assert self.config.speed is not None
        ex = self.exchange
        while not ex.finished:
            await asyncio.sleep(max(0.0, self.monotonic_at(ex.next_tick) - time.monotonic()))
            self.sync_clock()
        self.faults.record("ended", "replay", detail="end of data reached")

    async def _expire_connections(self, max_age: float) -> None:
        while True:
            await asyncio.sleep(min(1.0, max_age / 4))
            await self.registry.expire(max_age)

    # -- exchange listener ---------------------------------------------------------------------
    def on_step(self, market: SymbolMarket, trade: Trade | None, now_ms: int) -> None:
        self.hub.on_step(market, trade, now_ms)

    def on_close(self, market: SymbolMarket, kline: Kline, now_ms: int) -> None:
        self.hub.on_close(market, kline, now_ms)

    def on_user_event(self, event: dict[str, Any]) -> None:
        self.users.publish(event)

    def on_clock(self, now_ms: int) -> None:
        if self.faults.scheduled:
            self.faults.fire_due(now_ms)

    def _apply_fault(self, kind: str, params: dict[str, Any]) -> None:
        if kind == "clock_skew":
            self.skew_ms = params["ms"]
        elif kind == "partial_fills":
            self.exchange.engine.partial_only = params["enabled"]
        elif kind == "drop_connections":
            task = asyncio.get_running_loop().create_task(
                self.registry.close_all(params["target"], params["code"])
            )
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def settle(self, timeout: float = 2.0) -> None:
        """Wait until queued frames are written and fault actions are done (for control calls)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(not c.queue.empty() for c in self.registry.connections):
            await asyncio.sleep(0.001)

    # -- bookkeeping ---------------------------------------------------------------------------
    def log_request(self, method: str, path: str, status: int, agent: str = "") -> None:
        # the client's User-Agent tells apart several clients of one simulator (a market-data instance, a bot)
        self.requests.append(
            {"sim_ms": self.exchange.now_ms, "method": method, "path": path, "status": status, "agent": agent}
        )

    def log_internal_error(self, request: web.Request, exc: Exception) -> None:
        log.error("simulator error on %s %s: %s", request.method, request.path, exc, exc_info=exc)

    # -- app -----------------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self.rest.middleware])
        heartbeat = self.config.ws_ping_interval_s

        async def market(request: web.Request) -> web.StreamResponse:
            self.sync_clock()
            return await self.hub.handle(request, heartbeat)

        async def user(request: web.Request) -> web.StreamResponse:
            return await self.users.handle(request, heartbeat)

        app.add_routes(
            [
                web.get(p, market)
                for p in ("/ws", "/ws/{tail:.*}", "/stream", "/stream/ws", "/stream/ws/{tail:.*}")
            ]
        )
        app.add_routes([web.get("/ws-api/v3", user)])
        app.add_routes(self.rest.routes())
        app.add_routes(ControlApi(self).routes())
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.registry.close_all("all", 1001)

    async def start(self, sock: socket.socket | None = None) -> None:
        """Start serving (on ``sock`` if given, else on the configured host and port) and start the clock."""
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.config.host, self.config.port))
        self.port = sock.getsockname()[1]
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.exchange.start()
        if self.config.speed is not None:
            self._sim0, self._wall0 = float(self.exchange.now_ms), time.monotonic()
            self._tasks.append(asyncio.get_running_loop().create_task(self._run_clock()))
        if self.config.ws_max_lifetime_s:
            self._tasks.append(
                asyncio.get_running_loop().create_task(
                    self._expire_connections(self.config.ws_max_lifetime_s)
                )
            )

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.registry.close_all("all", 1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
