"""Async ccxt and ccxt.pro: REST calls, market streams (kline, trade, ticker), user data (watch_orders)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro
import orjson
import pytest

from tradewarden.simulator.testing import SimulatorHandle

SYMBOL = "BTC/USDT"
pytestmark = pytest.mark.timeout(60)


async def in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Control calls block; run them off the test's event loop so ccxt keeps reading its sockets."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_async_rest_calls(sim: SimulatorHandle) -> None:
    exchange = ccxt_async.binance(sim.ccxt_config())
    try:
        await exchange.load_markets()
        assert abs(await exchange.fetch_time() - exchange.milliseconds()) < 2000
        assert len(await exchange.fetch_ohlcv(SYMBOL, "1h", limit=10)) == 10
        assert (await exchange.fetch_ticker(SYMBOL))["last"] > 0
        order = await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 10000)
        assert (await exchange.fetch_order(order["id"], SYMBOL))["status"] == "open"
        assert len(await exchange.fetch_open_orders(SYMBOL)) == 1
        assert (await exchange.cancel_order(order["id"], SYMBOL))["status"] == "canceled"
        await exchange.create_order(SYMBOL, "market", "sell", 0.01)
        assert len(await exchange.fetch_my_trades(SYMBOL)) == 1
        assert (await exchange.fetch_balance())["BTC"]["free"] == 0.49
    finally:
        await exchange.close()


async def test_watch_ohlcv_receives_updates_and_the_closed_candle(sim: SimulatorHandle) -> None:
    exchange = ccxtpro.binance(sim.ccxt_config())
    try:
        await exchange.load_markets()
        first = asyncio.create_task(exchange.watch_ohlcv(SYMBOL, "1h"))
        await in_thread(sim.wait_for_streams, "btcusdt@kline_1h")
        closed = await in_thread(sim.step, 1)
        candles = await first
        seen: dict[int, list[float]] = {c[0]: c for c in candles}
        while closed[0].ts not in seen or seen[closed[0].ts] != closed[0].ohlcv():
            for c in await asyncio.wait_for(exchange.watch_ohlcv(SYMBOL, "1h"), 5):
                seen[c[0]] = c
        assert seen[closed[0].ts] == closed[0].ohlcv()
    finally:
        await exchange.close()


async def test_watch_trades_and_ticker(sim: SimulatorHandle) -> None:
    exchange = ccxtpro.binance(sim.ccxt_config())
    try:
        await exchange.load_markets()
        trades = asyncio.create_task(exchange.watch_trades(SYMBOL))
        ticker = asyncio.create_task(exchange.watch_ticker(SYMBOL))
        full = asyncio.create_task(exchange.watch_ticker(SYMBOL, {"name": "ticker"}))
        await in_thread(sim.wait_for_streams, "btcusdt@trade", "btcusdt@miniTicker", "btcusdt@ticker")
        await in_thread(sim.advance_ms, 15 * 60_000)
        got = await asyncio.wait_for(trades, 5)
        assert got and got[-1]["symbol"] == SYMBOL and got[-1]["side"] in ("buy", "sell")
        mini = await asyncio.wait_for(ticker, 5)
        assert mini["symbol"] == SYMBOL and mini["last"] > 0 and mini["bid"] is None  # miniTicker: no bid/ask
        full_ticker = await asyncio.wait_for(full, 5)
        assert full_ticker["bid"] < full_ticker["ask"]
    finally:
        await exchange.close()


async def _next_orders(exchange: Any, action: Any) -> list[dict[str, Any]]:
    """Start watching before acting: ccxt.pro resolves a watch only with messages that arrive after it."""
    watching = asyncio.create_task(exchange.watch_orders(SYMBOL))
    await asyncio.sleep(0.05)
    await action
    return list(await asyncio.wait_for(watching, 5))


async def test_watch_orders_gets_every_order_change(sim: SimulatorHandle) -> None:
    exchange = ccxtpro.binance(sim.ccxt_config())
    try:
        await exchange.load_markets()
        watching = asyncio.create_task(exchange.watch_orders(SYMBOL))
        await in_thread(sim.wait_for_streams, user=True)
        placed = await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 10000, {"clientOrderId": "w-1"})
        updates = await asyncio.wait_for(watching, 5)
        assert updates[-1]["id"] == placed["id"] and updates[-1]["status"] == "open"
        updates = await _next_orders(exchange, exchange.cancel_order(placed["id"], SYMBOL))
        assert updates[-1]["id"] == placed["id"] and updates[-1]["status"] == "canceled"
        updates = await _next_orders(exchange, exchange.create_order(SYMBOL, "market", "buy", 0.001))
        market_id = updates[-1]["id"]
        for _ in range(100):  # NEW and TRADE may arrive together; ccxt keeps the latest in its order cache
            done = [o for o in exchange.orders if o["id"] == market_id and o["status"] == "closed"]
            if done:
                break
            await asyncio.sleep(0.02)
        assert done and done[0]["filled"] == 0.001
        my_trades = asyncio.create_task(exchange.watch_my_trades(SYMBOL))
        await asyncio.sleep(0.05)
        await exchange.create_order(SYMBOL, "market", "sell", 0.001)
        assert (await asyncio.wait_for(my_trades, 5))[-1]["side"] == "sell"
    finally:
        await exchange.close()


async def test_raw_stream_protocol_subscribe_list_unsubscribe_and_combined(sim: SimulatorHandle) -> None:
    host = sim.base_url.removeprefix("http://")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://{host}/ws/0") as ws:
            await ws.send_str(
                orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}).decode()
            )
            assert orjson.loads((await ws.receive()).data) == {"result": None, "id": 1}
            await ws.send_str('{"method": "LIST_SUBSCRIPTIONS", "id": "x"}')
            assert orjson.loads((await ws.receive()).data) == {"result": ["btcusdt@trade"], "id": "x"}
            await ws.send_str('{"method": "SUBSCRIBE", "params": ["nosuch@trade"], "id": 2}')
            assert orjson.loads((await ws.receive()).data)["error"]["code"] == 2
            await ws.send_str("not json")
            assert orjson.loads((await ws.receive()).data)["error"]["code"] == 3
            await ws.send_str('{"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 3}')
            assert orjson.loads((await ws.receive()).data) == {"result": None, "id": 3}
            await ws.ping()
        url = f"ws://{host}/stream?streams=btcusdt@kline_1h/btcusdt@bookTicker"
        async with session.ws_connect(url) as ws:
            await in_thread(sim.advance_ms, 300_000)
            frames = [orjson.loads((await ws.receive(timeout=5)).data) for _ in range(2)]
            assert {f["stream"] for f in frames} == {"btcusdt@kline_1h", "btcusdt@bookTicker"}
            kline = next(f["data"] for f in frames if f["stream"] == "btcusdt@kline_1h")
            assert kline["e"] == "kline" and kline["k"]["x"] is False
