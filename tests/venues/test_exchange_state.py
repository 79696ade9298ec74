"""Reading the exchange's view (open orders, balances, fills) through ccxt, and reconciling against it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.orders import OrderSide
from tradewarden.simulator.testing import SimulatorHandle, start_simulator
from tradewarden.venues.exchange_state import ExchangeFill, ExchangeViewError, fetch_exchange_view, total_balances
from tradewarden.venues.reconcile import reconcile

SYMBOL = "BTC/USDT"
D = Decimal


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(seed=1, start_index=100, balances={"USDT": "10000", "BTC": "0.5"}) as handle:
        yield handle


def client(sim: SimulatorHandle) -> Any:
    exchange = ccxt.binance(sim.ccxt_config())
    exchange.load_markets()
    return exchange


def quick_policy(exchange: Any) -> RetryPolicy:
    return RetryPolicy(exchange=exchange, base_s=0.01, cap_s=0.05, max_attempts=3, max_total_s=5)


def below_market(exchange: Any) -> str:
    return str((D(exchange.fetch_ticker(SYMBOL)["info"]["bidPrice"]) * D("0.9")).quantize(D("0.01")))


def test_the_view_matches_the_simulator_exactly(sim: SimulatorHandle) -> None:
    exchange = client(sim)
    exchange.create_order(SYMBOL, "market", "buy", "0.01234", None, {"newClientOrderId": "tw-1"})
    exchange.create_order(SYMBOL, "market", "sell", "0.1", None, {"newClientOrderId": "tw-2"})
    exchange.create_order(SYMBOL, "limit", "buy", "0.003", below_market(exchange), {"newClientOrderId": "tw-3"})
    view = fetch_exchange_view(exchange, SYMBOL, retry=quick_policy(exchange))
    state = sim.state()
    assert [(o.client_id, o.side, o.qty, o.filled) for o in view.open_orders] == [("tw-3", "buy", D("0.003"), 0)]
    expected = {a: D(b["free"]) + D(b["locked"]) for a, b in state["balances"].items()}
    assert view.balances == {a: v for a, v in expected.items() if v != 0}
    assert [(f.trade_id, f.qty, f.price, f.fee, f.fee_asset) for f in view.fills] == [
        (str(t["id"]), D(t["qty"]), D(t["price"]), D(t["commission"]), t["commissionAsset"]) for t in state["fills"]
    ]
    assert [f.side for f in view.fills] == [OrderSide.BUY, OrderSide.SELL]


def test_fills_since_a_time_leave_out_older_ones(sim: SimulatorHandle) -> None:
    exchange = client(sim)
    exchange.create_order(SYMBOL, "market", "buy", "0.001", None, {"newClientOrderId": "tw-old"})
    sim.step(2)
    later = sim.now_ms()
    exchange.create_order(SYMBOL, "market", "buy", "0.002", None, {"newClientOrderId": "tw-new"})
    view = fetch_exchange_view(exchange, SYMBOL, since_ms=later, retry=quick_policy(exchange))
    assert [f.qty for f in view.fills] == [D("0.002")]


def test_an_order_placed_behind_the_bots_back_is_an_unknown_open_order(sim: SimulatorHandle) -> None:
    bot = client(sim)
    ours = bot.create_order(SYMBOL, "limit", "buy", "0.002", below_market(bot), {"newClientOrderId": "tw-ours"})
    ours_view = fetch_exchange_view(bot, SYMBOL, retry=quick_policy(bot))
    # someone else (the operator on the website, another bot) uses the same account
    intruder = client(sim)
    far = str(D(str(ours["price"])) * 2)
    intruder.create_order(SYMBOL, "limit", "sell", "0.01", far, {"newClientOrderId": "web_1"})
    view = fetch_exchange_view(bot, SYMBOL, retry=quick_policy(bot))
    found = reconcile(ours_view.open_orders, view.open_orders, ours_view.balances, view.balances)
    assert [(m.kind, m.subject) for m in found] == [("UNKNOWN_OPEN_ORDER", "web_1")]
    assert "not placed by this bot" in found[0].describe()
    assert reconcile(ours_view.open_orders, ours_view.open_orders, ours_view.balances, ours_view.balances) == []


def test_a_balance_changed_behind_the_bots_back_is_a_balance_mismatch(sim: SimulatorHandle) -> None:
    bot = client(sim)
    before = fetch_exchange_view(bot, SYMBOL, retry=quick_policy(bot))
    client(sim).create_order(SYMBOL, "market", "sell", "0.05", None, {"newClientOrderId": "web_2"})
    after = fetch_exchange_view(bot, SYMBOL, retry=quick_policy(bot))
    found = reconcile(before.open_orders, after.open_orders, before.balances, after.balances,
                      tolerance={"USDT": D("0.01")})
    assert sorted(m.subject for m in found if m.kind == "BALANCE_MISMATCH") == ["BTC", "USDT"]
    assert after.balances["BTC"] == D("0.45")


def test_reads_are_retried_through_errors(sim: SimulatorHandle) -> None:
    exchange = client(sim)
    sim.inject("server_errors", count=2, path="/api/v3/openOrders")
    sim.inject("rate_limit", count=1, retry_after=0, path="/api/v3/account")
    view = fetch_exchange_view(exchange, SYMBOL, retry=quick_policy(exchange))
    assert view.balances == {"BTC": D("0.5"), "USDT": D("10000")}
    fired = [e["kind"] for e in sim.faults_log() if e["event"] == "fired"]
    assert fired.count("server_errors") == 2 and fired.count("rate_limit") == 1


def test_a_read_that_keeps_failing_raises_a_clear_error(sim: SimulatorHandle) -> None:
    exchange = client(sim)
    sim.inject("server_errors", count=20, path="/api/v3/myTrades")
    with pytest.raises(ExchangeViewError, match=r"binance fetch_my_trades BTC/USDT: ExchangeNotAvailable") as err:
        fetch_exchange_view(exchange, SYMBOL, retry=quick_policy(exchange))
    assert "signature" not in str(err.value)


def test_a_malformed_trade_is_refused_naming_the_trade() -> None:
    good = {"id": "7", "order": "3", "symbol": SYMBOL, "side": "buy", "amount": 0.001, "price": 30000.5,
            "timestamp": 1, "fee": {"cost": 1e-06, "currency": "BTC"}, "info": {}}
    fill = ExchangeFill.from_ccxt(good)
    assert (fill.qty, fill.price, fill.fee, fill.fee_asset) == (D("0.001"), D("30000.5"), D("0.000001"), "BTC")
    with pytest.raises(ExchangeViewError, match="trade 7: unknown side 'hold'"):
        ExchangeFill.from_ccxt({**good, "side": "hold"})
    with pytest.raises(ExchangeViewError, match="trade 7: field 'price' is not a number"):
        ExchangeFill.from_ccxt({**good, "price": "abc"})
    with pytest.raises(ExchangeViewError, match="trade 7: field 'amount' is missing"):
        ExchangeFill.from_ccxt({k: v for k, v in good.items() if k != "amount"})


def test_balances_without_raw_rows_use_the_unified_totals() -> None:
    assert total_balances({"total": {"BTC": 0.1, "ETH": 0.0, "USDT": 12.5}}) == {"BTC": D("0.1"), "USDT": D("12.5")}
    assert total_balances({"total": {"ETH": 0.0}}, include_zero=True) == {"ETH": D("0.0")}
