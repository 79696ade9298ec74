"""The bot's Prometheus metrics: events on the bus become the series ``/metrics`` serves, on a registry of the
bot's own, on loopback unless asked otherwise."""

from __future__ import annotations

import socket
import urllib.request
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tradewarden.domain.events import EventType as E
from tradewarden.observability.bus import EventBus
from tradewarden.observability.metrics import (
    BotMetrics,
    MetricsServerError,
    attach_metrics,
    start_metrics_server,
)

DAY = 86_400_000
T0 = 1_700_000_000_000 // DAY * DAY  # a UTC midnight


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def samples(metrics: BotMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the registry's text exposition: (name, sorted labels) -> value."""
    text = generate_latest(metrics.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def feed(metrics: BotMetrics, emits: list[tuple[E, int, dict[str, object]]]) -> None:
    """The events through a real bus; closing it drains the subscriber."""
    with EventBus() as bus:
        bus.subscribe("metrics", metrics.handle)
        for type_, ts, fields in emits:
            bus.emit(type_, ts, **fields)


def equity(candle_ts: int, value: str, pnl: str, **marks: str) -> tuple[E, int, dict[str, object]]:
    return (E.EQUITY_SAMPLE, candle_ts, {"candle_ts": candle_ts, "equity": Decimal(value), "pnl": Decimal(pnl),
                                         "marks": {k.replace("_", "/"): v for k, v in marks.items()}})


def fill(symbol: str, side: str, qty: str, price: str) -> tuple[E, int, dict[str, object]]:
    return (E.FILL, T0, {"client_id": "c1", "symbol": symbol, "side": side, "qty": Decimal(qty),
                         "price": Decimal(price), "fee": Decimal("0.1"), "liquidity": "taker", "reason": "signal"})


def test_the_trading_flow_and_the_risk_state_become_metrics() -> None:
    clock = FakeClock(T0 / 1000 + 3600)
    m = BotMetrics(["BTC/USDT", "ETH/USDT"], 60_000, clock=clock, process=False)
    feed(m, [
        (E.SAFETY_CHECKS, T0, {"mode": "paper", "clock_offset_ms": 0, "keys_present": False, "kill_switch": False,
                               "trading_state": "ACTIVE", "stage": None}),
        (E.ORDER_PLACED, T0 + 3_600_000 - 250, {"client_id": "c1", "symbol": "BTC/USDT", "side": "buy",
                                                 "order_type": "market", "qty": Decimal("0.5"), "price": None,
                                                 "stop_price": None, "stop_loss": None, "take_profit": None,
                                                 "reduce_only": False}),
        fill("BTC/USDT", "buy", "0.5", "30000"),
        fill("ETH/USDT", "sell", "2", "2000"),
        fill("ETH/USDT", "buy", "2", "1990"),   # closes the short
        (E.ORDER_DENIED, T0, {"client_id": "c2", "symbol": "BTC/USDT", "side": "buy", "qty": Decimal(1),
                              "reason_code": "MAX_POSITIONS", "message": "too many"}),
        (E.ORDER_DENIED, T0, {"client_id": "c3", "symbol": "BTC/USDT", "side": "buy", "qty": Decimal(1),
                              "reason_code": "KILL_SWITCH", "message": "off"}),
        (E.ORDER_REJECTED, T0, {"client_id": "c4", "symbol": "BTC/USDT", "reason": "insufficient funds"}),
        (E.KILL_SWITCH_ACTIVATED, T0, {"reason": "drill", "actor": "alice", "set_ts": T0, "close_positions": False}),
        (E.TRADING_STATE_CHANGED, T0, {"scope": "global", "from": "ACTIVE", "to": "HALTED", "reason": "kill"}),
        (E.CIRCUIT_BREAKER_TRIPPED, T0, {"breaker": "drawdown", "scope": "global", "action": "HALTED",
                                         "reason": "-12%", "reset": "manual", "reset_after_ts": None}),
        (E.FEED_RECONNECTED, T0, {"exchange": "binance", "attempts": 2, "waited_s": 1.5}),
        (E.FEED_RECONNECTED, T0, {"exchange": "binance", "attempts": 1, "waited_s": 0.5}),
        (E.HEARTBEAT, T0, {"loop_stall_max_ms": 42.0, "candles_received": 3, "feed_healthy": True,
                           "worker_jobs": 0}),
        equity(T0 + 3_540_000, "10512.5", "512.5", BTC_USDT="31000", ETH_USDT="2000"),
    ])
    s = samples(m)
    assert s[("tradewarden_orders_total", (("result", "placed"),))] == 1
    assert s[("tradewarden_orders_total", (("result", "denied"),))] == 2
    assert s[("tradewarden_orders_total", (("result", "rejected"),))] == 1
    assert s[("tradewarden_orders_total", (("result", "cancelled"),))] == 0
    assert s[("tradewarden_risk_denials_total", (("reason", "MAX_POSITIONS"),))] == 1
    assert s[("tradewarden_risk_denials_total", (("reason", "KILL_SWITCH"),))] == 1
    assert s[("tradewarden_fills_total", ())] == 3
    assert s[("tradewarden_open_positions", ())] == 1  # BTC long; the ETH short is closed
    assert s[("tradewarden_position_notional", (("symbol", "BTC/USDT"),))] == 15_500  # 0.5 at the 31000 mark
    assert s[("tradewarden_position_notional", (("symbol", "ETH/USDT"),))] == 0
    assert s[("tradewarden_kill_switch", ())] == 1
    assert s[("tradewarden_trading_state", (("scope", "global"),))] == 2
    assert s[("tradewarden_breaker_tripped", (("breaker", "drawdown"), ("scope", "global")))] == 1
    assert s[("tradewarden_ws_reconnects_total", ())] == 2
    assert s[("tradewarden_loop_stall_seconds", ())] == 0.042
    assert s[("tradewarden_equity", ())] == 10512.5
    assert s[("tradewarden_pnl", ())] == 512.5
    assert s[("tradewarden_timeframe_seconds", ())] == 60
    # the order was handed over 250 ms after its candle closed (the fake clock stands still)
    assert s[("tradewarden_order_latency_seconds_count", ())] == 1
    assert s[("tradewarden_order_latency_seconds_sum", ())] == pytest.approx(0.25)
    assert s[("tradewarden_order_latency_seconds_bucket", (("le", "0.25"),))] == 1
    assert s[("tradewarden_order_latency_seconds_bucket", (("le", "0.1"),))] == 0


def test_resets_turn_the_switch_breakers_and_states_back() -> None:
    m = BotMetrics(process=False)
    feed(m, [
        (E.SAFETY_CHECKS, T0, {"mode": "paper", "clock_offset_ms": 0, "keys_present": False, "kill_switch": True,
                               "trading_state": "HALTED", "stage": None}),
        (E.CIRCUIT_BREAKER_TRIPPED, T0, {"breaker": "daily_loss", "scope": "ETH/USDT", "action": "REDUCING",
                                         "reason": "x", "reset": "next_day", "reset_after_ts": T0 + DAY}),
        (E.TRADING_STATE_CHANGED, T0, {"scope": "ETH/USDT", "from": "ACTIVE", "to": "REDUCING", "reason": "x"}),
    ])
    s = samples(m)
    assert (s[("tradewarden_kill_switch", ())], s[("tradewarden_trading_state", (("scope", "global"),))]) == (1, 2)
    assert s[("tradewarden_trading_state", (("scope", "ETH/USDT"),))] == 1
    feed(m, [
        (E.KILL_SWITCH_DEACTIVATED, T0, {"reason": "done", "actor": "bob", "set_ts": T0}),
        (E.CIRCUIT_BREAKER_RESET, T0, {"breaker": "daily_loss", "scope": "ETH/USDT", "by": "schedule"}),
        (E.TRADING_STATE_CHANGED, T0, {"scope": "ETH/USDT", "from": "REDUCING", "to": "ACTIVE", "reason": "ok"}),
    ])
    s = samples(m)
    assert s[("tradewarden_kill_switch", ())] == 0
    assert s[("tradewarden_breaker_tripped", (("breaker", "daily_loss"), ("scope", "ETH/USDT")))] == 0
    assert s[("tradewarden_trading_state", (("scope", "ETH/USDT"),))] == 0


def test_pnl_today_counts_from_the_last_equity_before_the_utc_day() -> None:
    m = BotMetrics(process=False)
    # day 1: started with 10000 (equity - pnl), ends at 10300
    feed(m, [equity(T0 + 1000, "10100", "100"), equity(T0 + DAY - 60_000, "10300", "300")])
    assert samples(m)[("tradewarden_pnl_today", ())] == 300
    feed(m, [equity(T0 + DAY, "10250", "250"), equity(T0 + DAY + 60_000, "10200", "200")])
    s = samples(m)
    assert s[("tradewarden_pnl_today", ())] == -100  # from 10300, the last equity of day 1
    assert s[("tradewarden_pnl", ())] == 200


def test_last_candle_age_and_last_fill_count_from_when_the_bot_handled_them() -> None:
    clock = FakeClock(5000.0)
    m = BotMetrics(["BTC/USDT"], clock=clock, process=False)
    clock.now = 5090.0  # no candle yet: the age counts from the start, so a bot that never gets one alerts
    assert samples(m)[("tradewarden_last_candle_age_seconds", (("symbol", "BTC/USDT"),))] == 90
    feed(m, [equity(T0, "100", "0", BTC_USDT="1")])
    clock.now = 5100.0
    s = samples(m)
    assert s[("tradewarden_last_candle_age_seconds", (("symbol", "BTC/USDT"),))] == 10
    assert s[("tradewarden_last_fill_timestamp_seconds", ())] == 5000
    feed(m, [fill("BTC/USDT", "buy", "1", "1"), equity(T0, "100", "0", SOL_USDT="3")])
    clock.now = 5130.0
    s = samples(m)
    assert s[("tradewarden_last_fill_timestamp_seconds", ())] == 5100
    assert s[("tradewarden_last_candle_age_seconds", (("symbol", "SOL/USDT"),))] == 30  # a symbol seen later


def test_each_bot_has_its_own_registry_and_the_global_one_stays_untouched() -> None:
    a, b = BotMetrics(process=False), BotMetrics(process=False)
    feed(a, [fill("BTC/USDT", "buy", "1", "1")])
    assert samples(a)[("tradewarden_fills_total", ())] == 1
    assert samples(b)[("tradewarden_fills_total", ())] == 0
    assert REGISTRY.get_sample_value("tradewarden_fills_total") is None


def test_metrics_are_served_over_http_with_the_process_collector() -> None:
    with EventBus() as bus:
        handle = attach_metrics(bus, 0, symbols=["BTC/USDT"])
        try:
            bus.emit(E.FEED_RECONNECTED, T0, exchange="binance", attempts=1, waited_s=0.1)
            bus.close()  # drained: the reconnect is counted
            with urllib.request.urlopen(f"http://127.0.0.1:{handle.port}/metrics", timeout=10) as resp:
                text = resp.read().decode()
        finally:
            handle.stop()
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert values["tradewarden_ws_reconnects_total"] == 1
    assert values["process_resident_memory_bytes"] > 0


def test_a_remote_address_is_refused_unless_allowed_and_a_taken_port_is_one_clear_error() -> None:
    m = BotMetrics(process=False)
    with pytest.raises(MetricsServerError, match=r"'0\.0\.0\.0' is not a loopback address"):
        start_metrics_server(m.registry, "0.0.0.0", 0)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsServerError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            start_metrics_server(m.registry, "127.0.0.1", port)
    server = start_metrics_server(m.registry, "0.0.0.0", 0, allow_remote=True)
    try:
        assert server.port > 0
    finally:
        server.stop()


def test_live_latency_ends_at_the_exchanges_acknowledgement_not_the_placement() -> None:
    clock = FakeClock(T0 / 1000 + 3600)
    m = BotMetrics(["BTC/USDT"], 60_000, clock=clock, process=False, live=True)
    close = T0 + 3_600_000 - 1_500  # decided at this candle close; placed at once, acknowledged 1.5 s later
    feed(m, [
        (E.ORDER_PLACED, close, {"client_id": "c1", "symbol": "BTC/USDT", "side": "buy", "order_type": "market",
                                 "qty": Decimal("0.5"), "price": None, "stop_price": None, "stop_loss": None,
                                 "take_profit": None, "reduce_only": False}),
        (E.ORDER_ACKNOWLEDGED, T0 + 3_600_000, {"client_id": "c1", "symbol": "BTC/USDT", "exchange_id": "42",
                                                 "decided_ts": close}),
    ])
    s = samples(m)
    assert s[("tradewarden_order_latency_seconds_count", ())] == 1  # the placement alone is not a latency
    assert s[("tradewarden_order_latency_seconds_sum", ())] == pytest.approx(1.5)
    assert s[("tradewarden_orders_total", (("result", "placed"),))] == 1
