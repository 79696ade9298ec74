"""Every REST call of the protocol notes through unmodified sync ccxt, plus Binance's error mapping."""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from tradewarden.simulator.testing import SimulatorHandle

SYMBOL = "BTC/USDT"


def test_load_markets_gives_filters_and_order_types(binance: Any) -> None:
    market = binance.market(SYMBOL)
    assert market["spot"] and market["active"]
    assert market["precision"]["price"] == 0.01 and market["precision"]["amount"] == 0.00001
    assert market["limits"]["cost"]["min"] == 5.0
    assert "STOP_LOSS_LIMIT" in market["info"]["orderTypes"]


def test_fetch_time_is_the_request_clock(binance: Any) -> None:
    assert abs(binance.fetch_time() - binance.milliseconds()) < 2000


def test_fetch_ohlcv_serves_history_up_to_now_and_never_the_future(
    binance: Any, sim: SimulatorHandle
) -> None:
    rows = binance.fetch_ohlcv(SYMBOL, "1h", limit=1000)
    now = sim.now_ms()
    assert len(rows) == 101 and rows[-1][0] <= now
    closed = sim.closed_candles(SYMBOL)
    assert [c.ohlcv() for c in closed[-100:]] == rows[:-1]
    sim.step(3)
    later = binance.fetch_ohlcv(SYMBOL, "1h", since=rows[-1][0])
    assert [r[0] for r in later] == [rows[-1][0] + i * 3_600_000 for i in range(4)]
    assert later[:3] == [c.ohlcv() for c in sim.closed_candles(SYMBOL)[-3:]]
    assert binance.fetch_ohlcv(SYMBOL, "4h", limit=2)[-1][0] % (4 * 3_600_000) == 0


def test_fetch_ticker(binance: Any, sim: SimulatorHandle) -> None:
    sim.advance_ms(20 * 60_000)
    ticker = binance.fetch_ticker(SYMBOL)
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert ticker["low"] <= ticker["last"] <= ticker["high"]
    assert ticker["timestamp"] > 0 and ticker["baseVolume"] > 0


def test_fetch_balance(binance: Any) -> None:
    balance = binance.fetch_balance()
    assert balance["USDT"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    assert balance["BTC"]["total"] == 0.5


def test_orders_of_every_type_and_their_lifecycle(binance: Any, sim: SimulatorHandle) -> None:
    market = binance.create_order(SYMBOL, "market", "buy", 0.01)
    assert market["status"] == "closed" and market["filled"] == 0.01 and market["fee"]["currency"] == "BTC"
    by_cost = binance.create_order(SYMBOL, "market", "buy", 0.001, binance.fetch_ticker(SYMBOL)["last"])
    assert by_cost["info"]["origQuoteOrderQty"] != "0.00000000" and by_cost["status"] == "closed"
    limit = binance.create_order(SYMBOL, "limit", "buy", 0.01, 10000)
    assert limit["status"] == "open"
    ioc = binance.create_order(SYMBOL, "limit", "sell", 0.01, 1000, {"timeInForce": "IOC"})
    assert ioc["status"] == "closed" and ioc["average"] > 1000  # crosses: fills at the bid, not the limit
    fok = binance.create_order(SYMBOL, "limit", "buy", 0.001, 100000, {"timeInForce": "FOK"})
    assert fok["status"] == "closed"
    stop = binance.create_order(SYMBOL, "limit", "sell", 0.005, 20000, {"stopPrice": 25000})
    assert stop["type"] == "limit" and stop["triggerPrice"] == 25000.0
    assert stop["info"]["type"] == "STOP_LOSS_LIMIT"
    open_ids = {o["id"] for o in binance.fetch_open_orders(SYMBOL)}
    assert open_ids == {limit["id"], stop["id"]}
    fetched = binance.fetch_order(limit["id"], SYMBOL)
    assert fetched["status"] == "open" and fetched["clientOrderId"] == limit["clientOrderId"]
    canceled = binance.cancel_order(limit["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    assert binance.fetch_order(limit["id"], SYMBOL)["status"] == "canceled"
    assert {o["id"] for o in binance.fetch_open_orders(SYMBOL)} == {stop["id"]}
    trades = binance.fetch_my_trades(SYMBOL)
    assert {t["order"] for t in trades} == {market["id"], by_cost["id"], ioc["id"], fok["id"]}
    assert binance.fetch_balance()["BTC"]["used"] == 0.005
    state = sim.state()
    assert len(state["fills"]) == len(trades) and len(state["open_orders"]) == 1


def test_lookup_by_client_order_id(binance: Any) -> None:
    placed = binance.create_order(SYMBOL, "limit", "buy", 0.01, 10000, {"clientOrderId": "bot-42"})
    found = binance.fetch_order(None, SYMBOL, {"clientOrderId": "bot-42"})
    assert found["id"] == placed["id"]
    assert binance.cancel_order(None, SYMBOL, {"clientOrderId": "bot-42"})["status"] == "canceled"


def test_duplicate_client_order_id_is_rejected(binance: Any) -> None:
    binance.create_order(SYMBOL, "limit", "buy", 0.01, 10000, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        binance.create_order(SYMBOL, "limit", "buy", 0.01, 10000, {"clientOrderId": "dup-1"})


@pytest.mark.parametrize(
    ("amount", "price", "exc", "text"),
    [
        (0.0001, 30000, ccxt.BadRequest, "NOTIONAL"),  # ccxt maps NOTIONAL to BadRequest, not InvalidOrder
        (9001, 30000, ccxt.InvalidOrder, "LOT_SIZE"),
        (1, 30000, ccxt.InsufficientFunds, "insufficient balance"),
    ],
)
def test_filter_and_balance_violations(
    binance: Any, amount: float, price: float, exc: type, text: str
) -> None:
    with pytest.raises(exc, match=text) as err:
        binance.create_order(SYMBOL, "limit", "buy", amount, price)
    if "Filter failure" in str(err.value):
        assert '"code":-1013' in str(err.value).replace(" ", "")


def test_unknown_order_and_stop_that_would_trigger(binance: Any) -> None:
    with pytest.raises(ccxt.OrderNotFound):
        binance.fetch_order("999999", SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        binance.cancel_order("999999", SYMBOL)
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        binance.create_order(SYMBOL, "limit", "sell", 0.01, 20000, {"stopPrice": 100000})


def test_wrong_secret_and_unknown_key_are_authentication_errors(sim: SimulatorHandle) -> None:
    bad_secret = ccxt.binance(sim.ccxt_config(secret="not-the-secret"))
    bad_secret.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        bad_secret.fetch_balance()
    unknown = ccxt.binance(sim.ccxt_config(api_key="someone-else"))
    unknown.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        unknown.fetch_balance()


def test_timestamp_outside_recv_window_is_invalid_nonce(binance: Any) -> None:
    binance.options["timeDifference"] = 20_000  # the client clock runs 20 s behind
    with pytest.raises(ccxt.InvalidNonce, match="recvWindow"):
        binance.fetch_balance()
    binance.options["timeDifference"] = -5_000  # 5 s ahead
    with pytest.raises(ccxt.InvalidNonce, match="ahead"):
        binance.fetch_balance()


def test_responses_carry_weight_and_order_count_headers(binance: Any) -> None:
    binance.create_order(SYMBOL, "market", "buy", 0.001)
    headers = {k.lower(): v for k, v in binance.last_response_headers.items()}
    assert int(headers["x-mbx-used-weight-1m"]) > 0
    assert headers["x-mbx-order-count-10s"] == "1"


def test_set_sandbox_mode_stays_local(sim: SimulatorHandle) -> None:
    exchange = ccxt.binance(sim.ccxt_config())
    exchange.set_sandbox_mode(True)
    exchange.load_markets()
    assert exchange.fetch_balance()["USDT"]["free"] == 10000.0


def test_api_key_permissions_through_ccxt(binance: Any, sim: SimulatorHandle) -> None:
    """``GET /sapi/v1/account/apiRestrictions`` (ccxt ``sapi_get_account_apirestrictions``), signed, in
    Binance's shape; the simulator's ccxt config keeps the call local."""
    assert binance.urls["api"]["sapi"].startswith(sim.base_url)
    answer = binance.sapi_get_account_apirestrictions()
    assert answer["enableWithdrawals"] is False
    assert answer["enableReading"] is True and answer["enableSpotAndMarginTrading"] is True
    assert answer["ipRestrict"] is False and isinstance(answer["createTime"], int)
    assert sim.requests_log()[-1]["path"] == "/sapi/v1/account/apiRestrictions"
    # signed like every account endpoint: a wrong secret is refused with Binance's code
    forged = ccxt.binance(sim.ccxt_config(secret="not-the-secret"))
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        forged.sapi_get_account_apirestrictions()


def test_a_key_that_can_withdraw_is_reported_so() -> None:
    from tradewarden.simulator.testing import start_simulator

    with start_simulator(key_can_withdraw=True) as sim:
        exchange = ccxt.binance(sim.ccxt_config())
        assert exchange.sapi_get_account_apirestrictions()["enableWithdrawals"] is True


def test_info_names_the_simulator(sim: SimulatorHandle) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{sim.base_url}/_sim/info", timeout=10) as resp:
        info = json.loads(resp.read())
    assert info["simulator"] == "tradewarden" and info["symbols"] == ["BTC/USDT"]
