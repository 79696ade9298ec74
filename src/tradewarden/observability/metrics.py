"""Prometheus metrics of one bot: a bus subscriber that keeps a per-bot registry, served at ``/metrics``.

:class:`BotMetrics` reads the bot's events on the bus's subscriber thread (the trading path pays one
``put_nowait`` per event, the bus's contract) and updates a :class:`~prometheus_client.CollectorRegistry` of
its own, never the process-global one, so two bots (or tests) in one process never share a series.
:func:`start_metrics_server` serves that registry with prometheus-client's HTTP server on a thread;
:func:`attach_metrics` does both. ``docs/OPERATIONS.md`` ("Metrics") lists every metric and the alert rules in
``deploy/prometheus/alerts.yml`` built on them.

Times that an alert compares with "now" (last candle, last fill) are wall-clock times at which the bot handled
the event, not the candles' market times: a session against the simulator runs market time faster than the
wall clock, and "no candle for two bars" is about the bot not getting data now.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric

from tradewarden.domain.events import EventType
from tradewarden.observability.bus import Event, EventBus

SUBSCRIBER = "metrics"
DAY_MS = 86_400_000
# candle close -> order handed to the venue: a step takes milliseconds; a slow one, seconds
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# the trading states as a number, by severity (tradewarden.risk.state: ACTIVE, REDUCING, HALTED)
STATE_VALUES = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
GLOBAL = "global"
E = EventType
TYPES = frozenset({
    E.EQUITY_SAMPLE, E.ORDER_PLACED, E.ORDER_DENIED, E.ORDER_REJECTED, E.ORDER_CANCELLED, E.FILL,
    E.POSITION_ADOPTED, E.KILL_SWITCH_ACTIVATED, E.KILL_SWITCH_DEACTIVATED, E.TRADING_STATE_CHANGED,
    E.CIRCUIT_BREAKER_TRIPPED, E.CIRCUIT_BREAKER_RESET, E.FEED_RECONNECTED, E.HEARTBEAT, E.SAFETY_CHECKS,
    E.ORDER_ACKNOWLEDGED,
})
_ORDER_RESULTS = {E.ORDER_PLACED: "placed", E.ORDER_DENIED: "denied", E.ORDER_REJECTED: "rejected",
                  E.ORDER_CANCELLED: "cancelled"}


class MetricsServerError(RuntimeError):
    """``/metrics`` cannot be served as configured (a remote address not allowed, the port taken)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BotMetrics:
    """The metrics of one bot, updated from its events. ``handle`` is the bus handler; ``registry`` is what
    ``/metrics`` serves. ``clock`` (seconds) times the ages and latencies: the wall clock unless a test fakes it.
    """

    def __init__(self, symbols: Collection[str] = (), timeframe_ms: int = 60_000,
                 clock: Callable[[], float] = time.time, process: bool = True, live: bool = False) -> None:
        self.clock = clock
        self.registry = reg = CollectorRegistry(auto_describe=True)
        if process:  # resident memory, CPU, open files of this process (Linux /proc)
            ProcessCollector(registry=reg)
        self.equity = Gauge("tradewarden_equity", "Cash plus every position at its mark (quote asset)",
                            registry=reg)
        self.pnl_today = Gauge("tradewarden_pnl_today", "Equity minus the equity at the start of the UTC day "
                               "(the starting capital on the session's first day)", registry=reg)
        self.pnl = Gauge("tradewarden_pnl", "Equity minus the starting capital", registry=reg)
        self.open_positions = Gauge("tradewarden_open_positions", "Symbols with a position", registry=reg)
        self.notional = Gauge("tradewarden_position_notional", "Signed position value at its mark (quote asset)",
                              ["symbol"], registry=reg)
        self.orders = Counter("tradewarden_orders", "Orders by result: placed, denied (risk), rejected "
                              "(venue), cancelled", ["result"], registry=reg)
        self.fills = Counter("tradewarden_fills", "Fills", registry=reg)
        self.denials = Counter("tradewarden_risk_denials", "Orders the risk layer denied, by reason code",
                               ["reason"], registry=reg)
        self.kill_switch = Gauge("tradewarden_kill_switch", "1 while the kill switch is on", registry=reg)
        self.trading_state = Gauge("tradewarden_trading_state", "0 ACTIVE, 1 REDUCING, 2 HALTED, per scope "
                                   "(global or a symbol)", ["scope"], registry=reg)
        self.breaker = Gauge("tradewarden_breaker_tripped", "1 while a circuit breaker is tripped",
                             ["breaker", "scope"], registry=reg)
        self.reconnects = Counter("tradewarden_ws_reconnects", "Market data feed reconnections", registry=reg)
        self.candle_age = Gauge("tradewarden_last_candle_age_seconds", "Seconds since the bot handled a closed "
                                "candle of the symbol (since it started, before the first)", ["symbol"],
                                registry=reg)
        self.timeframe = Gauge("tradewarden_timeframe_seconds", "The bar length", registry=reg)
        self.latency = Histogram("tradewarden_order_latency_seconds", "Candle close to the order acknowledged "
                                 "(live: by the exchange; paper and shadow: placed, there is no exchange)",
                                 buckets=LATENCY_BUCKETS, registry=reg)
        # live: the exchange's acknowledgement ends the latency; paper and shadow have no exchange, the placement does
        self.live = live
        self.stall = Gauge("tradewarden_loop_stall_seconds", "The event loop's longest stall so far",
                           registry=reg)
        self.last_fill = Gauge("tradewarden_last_fill_timestamp_seconds", "When the bot last got a fill (Unix "
                               "time; its start time before the first)", registry=reg)
        self.timeframe.set(timeframe_ms / 1000)
        self.trading_state.labels(GLOBAL).set(0)
        started = clock()
        self.last_fill.set(started)
        self._candle_at: dict[str, float] = {}
        for symbol in symbols:
            self._candle_at[symbol] = started
            self._age_gauge(symbol)
            self.notional.labels(symbol).set(0)
        for result in _ORDER_RESULTS.values():  # a series exists from the start, so rate() sees the first one
            self.orders.labels(result)
        self._qty: dict[str, Decimal] = {}
        self._mark: dict[str, Decimal] = {}
        self._day: int | None = None
        self._day_base: Decimal | None = None   # equity at the start of the current UTC day
        self._last_equity: Decimal | None = None

    def count_notifications(self, read: Callable[[], NotifyCounts]) -> None:
        """Serve the notifier's counters (read at each scrape; the notifier counts on its own thread)."""
        self.registry.register(_NotifyCollector(read))

    def _age_gauge(self, symbol: str) -> None:
        self.candle_age.labels(symbol).set_function(lambda: self.clock() - self._candle_at[symbol])

    # -- the bus handler ---------------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        rec, kind = event.record, event.type
        if kind in _ORDER_RESULTS:
            self.orders.labels(_ORDER_RESULTS[kind]).inc()
            if kind == E.ORDER_PLACED and not self.live:
                # the event's ts is the candle's close (the engine decides at the close)
                self.latency.observe(max(0.0, self.clock() - event.ts / 1000))

            elif kind == E.ORDER_DENIED:
                self.denials.labels(str(rec["reason_code"])).inc()
        elif kind == E.ORDER_ACKNOWLEDGED:
            # live: the exchange answered the create; the latency ends here, not when the order was placed
            self.latency.observe(max(0.0, self.clock() - int(rec["decided_ts"]) / 1000))
        elif kind == E.EQUITY_SAMPLE:
            self._equity_sample(rec, event.ts)
        elif kind == E.FILL:
            self._fill(rec)
        elif kind == E.POSITION_ADOPTED:
            self._set_position(str(rec["symbol"]), Decimal(str(rec["after"])), Decimal(str(rec["mark_price"])))
        elif kind in (E.KILL_SWITCH_ACTIVATED, E.KILL_SWITCH_DEACTIVATED):
            self.kill_switch.set(1 if kind == E.KILL_SWITCH_ACTIVATED else 0)
        elif kind == E.SAFETY_CHECKS:  # the boot's view: the kill switch and trading state it starts with
            self.kill_switch.set(1 if rec.get("kill_switch") is True else 0)
            self.trading_state.labels(GLOBAL).set(STATE_VALUES.get(str(rec.get("trading_state")), 0))
        elif kind == E.TRADING_STATE_CHANGED:
            self.trading_state.labels(str(rec["scope"])).set(STATE_VALUES.get(str(rec["to"]), 0))
        elif kind in (E.CIRCUIT_BREAKER_TRIPPED, E.CIRCUIT_BREAKER_RESET):
            tripped = 1 if kind == E.CIRCUIT_BREAKER_TRIPPED else 0
            self.breaker.labels(str(rec["breaker"]), str(rec["scope"])).set(tripped)
        elif kind == E.FEED_RECONNECTED:
            self.reconnects.inc()
        elif kind == E.HEARTBEAT:
            self.stall.set(float(rec["loop_stall_max_ms"]) / 1000)

    def _equity_sample(self, rec: Mapping[str, Any], ts: int) -> None:
        equity, pnl = Decimal(str(rec["equity"])), Decimal(str(rec["pnl"]))
        day = int(rec.get("candle_ts", ts)) // DAY_MS
        if day != self._day:
            # the day starts from the last equity before it; on the session's first day, the starting capital
            self._day_base = self._last_equity if self._last_equity is not None else equity - pnl
            self._day = day
        assert self._day_base is not None  # set on the first sample
        self._last_equity = equity
        self.equity.set(float(equity))
        self.pnl.set(float(pnl))
        self.pnl_today.set(float(equity - self._day_base))
        now = self.clock()
        for symbol, mark in dict(rec.get("marks") or {}).items():
            self._mark[symbol] = Decimal(str(mark))
            if symbol not in self._candle_at:
                self._candle_at[symbol] = now
                self._age_gauge(symbol)
            self._candle_at[symbol] = now
            self.notional.labels(symbol).set(float(self._qty.get(symbol, Decimal(0)) * self._mark[symbol]))

    def _fill(self, rec: Mapping[str, Any]) -> None:
        self.fills.inc()
        self.last_fill.set(self.clock())
        symbol, qty, price = str(rec["symbol"]), Decimal(str(rec["qty"])), Decimal(str(rec["price"]))
        signed = qty if rec["side"] == "buy" else -qty
        self._set_position(symbol, self._qty.get(symbol, Decimal(0)) + signed, self._mark.get(symbol, price))

    def _set_position(self, symbol: str, qty: Decimal, mark: Decimal) -> None:
        self._qty[symbol], self._mark[symbol] = qty, mark
        self.notional.labels(symbol).set(float(qty * mark))
        self.open_positions.set(sum(1 for q in self._qty.values() if q != 0))


@dataclass(frozen=True)
class NotifyCounts:
    """What the notifier counted: per channel (messages sent, messages given up after their retries), and
    messages dropped on its full queue."""

    sent: Mapping[str, int]
    failed: Mapping[str, int]
    dropped: int


class _NotifyCollector:
    def __init__(self, read: Callable[[], NotifyCounts]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        counts = self.read()
        sent = CounterMetricFamily("tradewarden_notify_sent", "Notifications delivered (alerts and command "
                                   "replies), by channel", labels=["channel"])
        failed = CounterMetricFamily("tradewarden_notify_failures", "Notifications given up after their "
                                     "retries, by channel", labels=["channel"])
        for channel, n in counts.sent.items():
            sent.add_metric([channel], n)
        for channel, n in counts.failed.items():
            failed.add_metric([channel], n)
        dropped = CounterMetricFamily("tradewarden_notify_dropped", "Notifications dropped on the notifier's full "
                                      "queue", value=counts.dropped)
        return iter((sent, failed, dropped))


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint; ``port`` is the bound one (useful with port 0)."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def start_metrics_server(registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0,
                         allow_remote: bool = False) -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread. ``/metrics`` has no
    authentication, so an address other than loopback needs ``allow_remote`` (the config sets it when the
    operator chose such a ``metrics_host``)."""
    if not allow_remote and not is_loopback(host):
        raise MetricsServerError(f"metrics host {host!r} is not a loopback address; /metrics has no "
                                 "authentication, so serve it on a remote address only when configured")
    try:
        server, thread = start_http_server(port, host, registry)
    except OSError as exc:
        raise MetricsServerError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
    return MetricsServer(host, int(server.server_port), server, thread)


@dataclass
class MetricsHandle:
    """The bot's metrics and their server: :meth:`stop` at the session's end (the bus may close before or
    after; its subscriber thread ends with the bus)."""

    metrics: BotMetrics
    server: MetricsServer

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self) -> None:
        self.server.stop()


def attach_metrics(bus: EventBus, port: int, host: str = "127.0.0.1", symbols: Collection[str] = (),
                   timeframe_ms: int = 60_000, allow_remote: bool = False, live: bool = False) -> MetricsHandle:
    """Subscribe a :class:`BotMetrics` to ``bus`` and serve it at ``host:port`` (0: any free port)."""
    metrics = BotMetrics(symbols, timeframe_ms, live=live)
    server = start_metrics_server(metrics.registry, host, port, allow_remote)
    try:
        bus.subscribe(SUBSCRIBER, metrics.handle, types=TYPES)
    except Exception:
        server.stop()
        raise
    return MetricsHandle(metrics, server)
