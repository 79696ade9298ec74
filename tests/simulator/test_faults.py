"""Fault injection: each injected fault gives the ccxt exception the protocol notes name, and is logged."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import ccxt.pro as ccxtpro
import orjson
import pytest

from tradewarden.simulator.testing import SimControlError, SimulatorHandle, start_simulator

SYMBOL = "BTC/USDT"
pytestmark = pytest.mark.timeout(60)


def fired(sim: SimulatorHandle, kind: str) -> list[dict[str, Any]]:
    return [e for e in sim.faults_log() if e["event"] == "fired" and e["kind"] == kind]


@pytest.mark.parametrize(
    ("kind", "params", "exc"),
    [
        ("rate_limit", {"retry_after": 7}, ccxt.DDoSProtection),
        ("ban", {"retry_after": 120}, ccxt.DDoSProtection),
        ("server_errors", {"count": 1, "status": 502}, ccxt.ExchangeNotAvailable),
        ("http_error", {"status": 504}, ccxt.RequestTimeout),
        ("http_error", {"status": 503, "code": -1007}, ccxt.RequestTimeout),
        ("http_error", {"status": 500, "code": -1000}, ccxt.OperationFailed),
        ("http_error", {"status": 403}, ccxt.ExchangeNotAvailable),
    ],
)
def test_http_faults_map_to_ccxt_exceptions(
    binance: Any, sim: SimulatorHandle, kind: str, params: dict[str, Any], exc: type
) -> None:
    sim.inject(kind, path="/api/v3/ticker/24hr", **params)
    binance.fetch_balance()  # other paths are not affected
    with pytest.raises(exc):
        binance.fetch_ticker(SYMBOL)
    if "retry_after" in params:
        headers = {k.lower(): v for k, v in binance.last_response_headers.items()}
        assert headers["retry-after"] == str(params["retry_after"])
    assert binance.fetch_ticker(SYMBOL)["last"] > 0  # one-shot: the next call works
    assert [e["path"] for e in fired(sim, kind)] == ["/api/v3/ticker/24hr"]


def test_a_burst_of_server_errors_lasts_count_requests(binance: Any, sim: SimulatorHandle) -> None:
    sim.inject("server_errors", count=3)
    for _ in range(3):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            binance.fetch_time()
    binance.fetch_time()
    assert len(fired(sim, "server_errors")) == 3


def test_slow_response_beyond_the_client_timeout(binance: Any, sim: SimulatorHandle) -> None:
    binance.timeout = 300
    sim.inject("slow_responses", delay_ms=800, path="/api/v3/time")
    with pytest.raises(ccxt.RequestTimeout):
        binance.fetch_time()


@pytest.mark.parametrize(
    ("code", "exc"),
    [
        (-1013, ccxt.InvalidOrder),
        (-2010, ccxt.InsufficientFunds),
        (-1021, ccxt.InvalidNonce),
        (-1015, ccxt.RateLimitExceeded),
        (-2015, ccxt.AuthenticationError),
    ],
)
def test_reject_next_order_with_a_chosen_code(
    binance: Any, sim: SimulatorHandle, code: int, exc: type
) -> None:
    sim.inject("reject_next_order", code=code, status=401 if code == -2015 else 400)
    with pytest.raises(exc):
        binance.create_order(SYMBOL, "market", "buy", 0.001)
    assert fired(sim, "reject_next_order")[0]["client_order_id"].startswith("x-")  # ccxt's generated id
    assert f'"code":{code}' in binance.last_http_response.replace(" ", "")
    assert binance.create_order(SYMBOL, "market", "buy", 0.001)["status"] == "closed"
    assert sim.state()["orders"] == 1  # the rejected order never existed


def test_ambiguous_order_is_placed_although_the_response_times_out(
    binance: Any, sim: SimulatorHandle
) -> None:
    binance.timeout = 300
    sim.inject("ambiguous_order", mode="timeout", delay_ms=1000)
    with pytest.raises(ccxt.RequestTimeout):
        binance.create_order(SYMBOL, "limit", "buy", 0.01, 10000, {"clientOrderId": "maybe-1"})
    binance.timeout = 10_000
    found = binance.fetch_order(None, SYMBOL, {"clientOrderId": "maybe-1"})  # how a bot resolves it
    assert found["status"] == "open"
    [entry] = fired(sim, "ambiguous_order")
    assert entry["client_order_id"] == "maybe-1" and str(entry["order_id"]) == found["id"]


def test_ambiguous_order_with_a_5xx_answer(binance: Any, sim: SimulatorHandle) -> None:
    sim.inject("ambiguous_order", mode="error", status=503)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        binance.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "maybe-2"})
    assert binance.fetch_order(None, SYMBOL, {"clientOrderId": "maybe-2"})["status"] == "closed"


def test_clock_skew_breaks_signing_until_the_client_resyncs(sim: SimulatorHandle) -> None:
    sim.inject("clock_skew", ms=-30_000)  # the exchange's clock is 30 s behind
    exchange = ccxt.binance(sim.ccxt_config())
    exchange.load_markets()
    with pytest.raises(ccxt.InvalidNonce, match="ahead"):
        exchange.fetch_balance()
    exchange.load_time_difference()
    assert exchange.fetch_balance()["USDT"]["free"] == 10000.0


def test_partial_fill_mode(binance: Any, sim: SimulatorHandle) -> None:
    sim.inject("partial_fills", enabled=True)
    order = binance.create_order(SYMBOL, "market", "buy", 0.01)
    assert order["status"] == "expired" and order["filled"] == 0.005
    sim.inject("partial_fills", enabled=False)
    assert binance.create_order(SYMBOL, "market", "buy", 0.01)["filled"] == 0.01


async def test_dropped_connections_raise_network_error_and_ccxt_reconnects(sim: SimulatorHandle) -> None:
    exchange = ccxtpro.binance(sim.ccxt_config())
    try:
        await exchange.load_markets()
        pending = asyncio.create_task(exchange.watch_trades(SYMBOL))
        await asyncio.to_thread(sim.wait_for_streams, "btcusdt@trade")
        await asyncio.to_thread(sim.inject, "drop_connections")
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(pending, 5)
        again = asyncio.create_task(exchange.watch_trades(SYMBOL))
        await asyncio.to_thread(sim.wait_for_streams, "btcusdt@trade")
        await asyncio.to_thread(sim.advance_ms, 600_000)
        assert (await asyncio.wait_for(again, 5))[-1]["symbol"] == SYMBOL
    finally:
        await exchange.close()
    assert len(fired(sim, "drop_connections")) == 1


async def _frames(url: str, sim: SimulatorHandle, advance_ms: int, wait: float) -> list[str]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await asyncio.to_thread(sim.wait_for_streams, "btcusdt@trade")
        await asyncio.to_thread(sim.advance_ms, advance_ms)
        out = []
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await ws.receive(timeout=left)
            except TimeoutError:
                break
            out.append(msg.data)
        return out


async def test_stalled_streams_stay_connected_but_silent(sim: SimulatorHandle) -> None:
    url = sim.base_url.replace("http", "ws") + "/ws/btcusdt@trade"
    await asyncio.to_thread(sim.inject, "stall_streams", seconds=1.0)
    assert await _frames(url, sim, 600_000, 0.3) == []
    await asyncio.sleep(0.8)
    assert len(await _frames(url, sim, 600_000, 0.3)) > 0
    assert [e["event"] for e in sim.faults_log() if e["kind"] == "stall_streams"] == [
        "armed",
        "fired",
        "ended",
    ]


@pytest.mark.parametrize("variant", ["invalid_json", "out_of_schema"])
async def test_malformed_messages_replace_frames(sim: SimulatorHandle, variant: str) -> None:
    url = sim.base_url.replace("http", "ws") + "/ws/btcusdt@trade"
    await asyncio.to_thread(sim.inject, "malformed_messages", count=2, variant=variant)
    frames = await _frames(url, sim, 3_600_000, 0.3)
    assert frames[0] == frames[1] and frames[0] != frames[2]
    assert orjson.loads(frames[2])["e"] == "trade"
    if variant == "invalid_json":
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(frames[0])
    else:
        assert "p" not in orjson.loads(frames[0])
    assert len(fired(sim, "malformed_messages")) == 2


async def test_ccxt_pro_survives_a_malformed_frame(sim: SimulatorHandle) -> None:
    exchange = ccxtpro.binance(sim.ccxt_config())
    try:
        await exchange.load_markets()
        first = asyncio.create_task(exchange.watch_trades(SYMBOL))
        await asyncio.to_thread(sim.wait_for_streams, "btcusdt@trade")
        await asyncio.to_thread(sim.inject, "malformed_messages", count=1, variant="out_of_schema")
        await asyncio.to_thread(sim.advance_ms, 3_600_000)
        assert (await asyncio.wait_for(first, 5))[-1]["symbol"] == SYMBOL
    finally:
        await exchange.close()


def test_scenario_file_fires_at_simulated_times(tmp_path: Path) -> None:
    scenario = tmp_path / "drill.yaml"
    scenario.write_text(
        "faults:\n"
        "  - kind: clock_skew\n    ms: 0\n"
        "  - at_candle: 2\n    kind: rate_limit\n    count: 1\n"
        "  - at_ms: 5400000\n    kind: partial_fills\n"
    )
    with start_simulator(scenario=scenario) as sim:
        exchange = ccxt.binance(sim.ccxt_config())
        exchange.load_markets()
        sim.step(1)
        assert exchange.fetch_time() > 0
        sim.step(1)  # candle 2 reached: the rate limit fires once, partial fills were armed at 1.5 candles
        with pytest.raises(ccxt.DDoSProtection):
            exchange.fetch_time()
        log = [(e["event"], e["kind"]) for e in sim.faults_log()]
        assert log == [
            ("armed", "clock_skew"),
            ("fired", "clock_skew"),
            ("armed", "partial_fills"),
            ("fired", "partial_fills"),
            ("armed", "rate_limit"),
            ("fired", "rate_limit"),
        ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("faults:\n  - kind: meteor\n", "unknown fault kind 'meteor'"),
        ("faults:\n  - kind: stall_streams\n", "'seconds' is required"),
        ("faults:\n  - kind: rate_limit\n    count: many\n", "must be int"),
        ("faults: {}\n", "'faults' list"),
        ("faults: [\n", "not valid YAML"),
    ],
)
def test_bad_scenario_files_name_the_entry(tmp_path: Path, text: str, message: str) -> None:
    from tradewarden.simulator.errors import SimConfigError

    scenario = tmp_path / "bad.yaml"
    scenario.write_text(text)
    with pytest.raises(SimConfigError, match=message), start_simulator(scenario=scenario):
        pass


def test_bad_fault_parameters_are_refused_by_the_control_endpoint(sim: SimulatorHandle) -> None:
    with pytest.raises(SimControlError, match="unknown parameter"):
        sim.inject("rate_limit", colour="red")
    with pytest.raises(SimControlError, match="unknown fault kind"):
        sim.inject("earthquake")
    assert sim.faults_log() == []


def test_a_held_order_answer_comes_only_when_released(binance: Any, sim: SimulatorHandle) -> None:
    """The order is on the exchange while its answer is held; the answer arrives only after the release."""
    import threading

    sim.inject("hold_order_answer")
    answers: list[dict[str, Any]] = []
    sender = threading.Thread(target=lambda: answers.append(
        binance.create_order(SYMBOL, "limit", "buy", 0.01, 10000, {"clientOrderId": "held-1"})))
    sender.start()
    while not fired(sim, "hold_order_answer"):
        sender.join(0.01)
    reader = ccxt.binance(sim.ccxt_config())
    assert reader.fetch_order(None, SYMBOL, {"clientOrderId": "held-1"})["status"] == "open"
    assert answers == [] and sender.is_alive()
    assert sim.release() == 1
    sender.join()
    assert [a["clientOrderId"] for a in answers] == ["held-1"]
    assert [e["event"] for e in sim.faults_log() if e["kind"] == "hold_order_answer"] == [
        "armed", "fired", "released"]
