"""Run the simulator in-process for tests: a stable API other packages' tests rely on.

    from tradewarden.simulator.testing import start_simulator

    with start_simulator(symbols=["BTC/USDT"], seed=1, start_index=100) as sim:
        exchange = ccxt.binance(sim.ccxt_config())
        sim.step()                       # close one candle (stepped clock)
        sim.inject("rate_limit", count=2)
        assert sim.faults_log()[-1]["kind"] == "rate_limit"

The server runs in a background thread with its own event loop, on a free port of 127.0.0.1, and stops
cleanly when the ``with`` block ends. Control calls go through the ``/_sim/`` HTTP endpoint, so what a test
sees is what any other client of the simulator sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradewarden.simulator.client_config import ccxt_config
from tradewarden.simulator.config import SimConfig
from tradewarden.simulator.errors import SimConfigError
from tradewarden.simulator.server import SimServer

__all__ = ["SimCandle", "SimControlError", "SimulatorHandle", "start_simulator"]


class SimControlError(RuntimeError):
    """The control endpoint refused a call (bad parameters, stepping a running clock, end of data)."""


@dataclass(frozen=True, slots=True)
class SimCandle:
    """A candle the simulator closed (exact Decimals, open time in ms)."""

    symbol: str
    ts: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> SimCandle:
        return cls(
            str(row["symbol"]),
            int(row["ts"]),
            Decimal(row["open"]),
            Decimal(row["high"]),
            Decimal(row["low"]),
            Decimal(row["close"]),
            Decimal(row["volume"]),
        )

    def ohlcv(self) -> list[float]:
        """As ccxt returns a candle: ``[ts, open, high, low, close, volume]``."""
        return [
            self.ts,
            float(self.open),
            float(self.high),
            float(self.low),
            float(self.close),
            float(self.volume),
        ]


class SimulatorHandle:
    def __init__(self, server: SimServer, loop: asyncio.AbstractEventLoop) -> None:
        self._server = server
        self._loop = loop
        self.port = server.port
        self.base_url = f"http://127.0.0.1:{server.port}"
        self.api_key, self.secret = next(iter(server.config.api_keys.items()))

    # -- plumbing ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.base_url}/_sim/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("error", detail)
            raise SimControlError(f"{method} /_sim/{path}: {detail}") from None

    # -- the stable API ------------------------------------------------------------------------
    def ccxt_config(self, api_key: str | None = None, secret: str | None = None) -> dict[str, Any]:
        """The §1.1 config (urls api + test, options) plus ``enableRateLimit: False``."""
        return ccxt_config(self.base_url, api_key or self.api_key, secret or self.secret)

    def step(self, n: int = 1) -> list[SimCandle]:
        """Advance the stepped clock to the n-th next candle boundary; the candles that closed."""
        return [SimCandle.from_json(r) for r in self._call("POST", "step", {"n": n})["closed"]]

    def advance_ms(self, ms: int) -> list[SimCandle]:
        """Advance the stepped clock by ``ms`` (prices move inside the candle); the candles that closed."""
        return [SimCandle.from_json(r) for r in self._call("POST", "advance", {"ms": ms})["closed"]]

    def now_ms(self) -> int:
        return int(self._call("GET", "time")["now_ms"])

    def monotonic_at(self, sim_ms: int) -> float:
        """When the accelerated clock reaches ``sim_ms``, on this process's ``time.monotonic()`` (the simulator
        runs in this process: for measurements such as the latency benchmark). Not for a stepped clock."""
        if self._server.config.speed is None:
            raise SimControlError("monotonic_at: the clock is stepped, not running at a speed")
        return self._server.monotonic_at(sim_ms)

    def inject(self, kind: str, **params: Any) -> dict[str, Any]:
        """Arm a fault (kinds and parameters: docs/SIMULATOR.md); returns the log entry of the arming."""
        result: dict[str, Any] = self._call("POST", "faults", {"kind": kind, **params})
        return result

    def release(self) -> int:
        """Send the order answers a ``hold_order_answer`` fault holds; how many were held."""
        return int(self._call("POST", "release")["released"])

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def state(self) -> dict[str, Any]:
        """Balances, open orders, fills, fees, active streams, from ``GET /_sim/state``."""
        result: dict[str, Any] = self._call("GET", "state")
        return result

    def faults_log(self) -> list[dict[str, Any]]:
        """Every arming and firing of a fault, in order (``event`` is ``armed``, ``fired`` or ``ended``)."""
        log: list[dict[str, Any]] = self._call("GET", "faults")["log"]
        return log

    def closed_candles(self, symbol: str, since: int | None = None) -> list[SimCandle]:
        """Every candle closed so far (history before the start included), oldest first."""
        path = f"candles?symbol={urllib.parse.quote(symbol)}" + (
            f"&since={since}" if since is not None else ""
        )
        return [SimCandle.from_json(r) for r in self._call("GET", path)]

    def requests_log(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self._call("GET", "requests")
        return log

    def wait_for_streams(self, *names: str, timeout: float = 5.0, user: bool = False) -> None:
        """Block until the named market streams (and with ``user`` a user data stream) are subscribed."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.state()
            if set(names) <= set(st["streams"]) and (not user or st["user_subscriptions"] > 0):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"streams {sorted(set(names) - set(st['streams']))} not subscribed "
                    f"(user subscriptions: {st['user_subscriptions']}) after {timeout} s"
                )
            time.sleep(0.01)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


@contextmanager
def start_simulator(
    data: str | Path | None = None,
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    speed: float | None = None,
    seed: int = 1,
    balances: Mapping[str, str | Decimal] | None = None,
    port: int = 0,
    start_index: int = 100,
    **options: Any,
) -> Iterator[SimulatorHandle]:
    """Start a simulator on 127.0.0.1 in a background thread; stop it when the block ends.

    ``options`` are further :class:`SimConfig` fields (``ticks_per_candle``, ``spread_bps``, ``fee_rate``,
    ``volume_share``, ``scenario``, ``ws_max_lifetime_s``, ``api_keys``...).
    """
    bal = (
        {"USDT": Decimal("10000"), "BTC": Decimal(0)}
        if balances is None
        else {k.upper(): Decimal(str(v)) for k, v in balances.items()}
    )
    for name in ("spread_bps", "fee_rate", "volume_share"):
        if name in options:
            options[name] = Decimal(str(options[name]))
    if "scenario" in options and options["scenario"] is not None:
        options["scenario"] = Path(options["scenario"])
    config = SimConfig(
        data=Path(data) if data is not None else None,
        symbols=list(symbols or ["BTC/USDT"]),
        timeframe=timeframe,
        speed=speed,
        seed=seed,
        balances=bal,
        host="127.0.0.1",
        port=port,
        start_index=start_index,
        **options,
    )
    server = SimServer(config)
    sock = _free_socket()
    sock.bind(("127.0.0.1", port))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start(sock))
        except BaseException as exc:  # reported to the caller's thread below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name=f"tradewarden-sim-{sock.getsockname()[1]}", daemon=True)
    thread.start()
    started.wait(30)
    if failure:
        thread.join(5)
        exc = failure[0]
        raise SimConfigError(f"simulator failed to start: {exc}") from exc
    try:
        yield SimulatorHandle(server, loop)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
