"""The matching engine on the exchange core: locks, fills, fees, conservation, Binance's rejections."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from tradewarden.simulator.errors import BinanceError
from tradewarden.simulator.exchange import Exchange

ZERO = Decimal(0)


def order(ex: Exchange, **params: str) -> tuple[object, list[object], str]:
    return ex.engine.place({"symbol": "BTCUSDT", **params})


def assert_conserved(ex: Exchange) -> None:
    """Every asset: start + what fills brought in - what they took out - fees = free + locked."""
    acc = ex.account
    expected = dict(acc.initial)
    for f in ex.engine.fills:
        sign = 1 if f.side == "BUY" else -1
        expected["BTC"] = expected.get("BTC", ZERO) + sign * f.qty
        expected["USDT"] = expected.get("USDT", ZERO) - sign * f.quote_qty
        expected[f.commission_asset] -= f.commission
    for asset, amount in expected.items():
        assert acc.free[asset] + acc.locked[asset] == amount, asset
        assert acc.free[asset] >= 0 and acc.locked[asset] >= 0, asset
    locked = {a: ZERO for a in acc.locked}
    for o in ex.engine.orders.values():
        if o.is_open and o.lock_asset:
            locked[o.lock_asset] += o.locked
    assert locked == acc.locked


def test_market_buy_fills_at_the_ask_and_charges_the_fee_in_base(core: Exchange) -> None:
    m = core.markets["BTCUSDT"]
    ask = m.ask
    o, fills, _ = core.engine.place(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
    )
    assert o.status == "FILLED" and len(fills) == 1  # type: ignore[attr-defined]
    assert fills[0].price == ask  # type: ignore[attr-defined]
    assert core.account.fees == {"BTC": Decimal("0.00001000")}
    assert core.account.free["BTC"] == Decimal("1.00999")
    assert_conserved(core)


def test_resting_limit_locks_quote_and_fills_at_its_price_when_crossed(core: Exchange) -> None:
    m = core.markets["BTCUSDT"]
    target = m.bar(100).low + Decimal(100)  # the candle in progress trades there later
    o, fills, _ = order(core, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price=str(target))
    if fills:
        pytest.skip("data moved below the target at the open")
    assert core.account.locked["USDT"] == target * Decimal("0.01")
    core.step(1)
    assert o.status == "FILLED"  # type: ignore[attr-defined]
    assert core.engine.fills[-1].price == target and core.engine.fills[-1].is_maker
    assert core.account.locked["USDT"] == 0
    assert_conserved(core)


def test_cancel_releases_the_lock(core: Exchange) -> None:
    o, _, _ = order(core, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.5", price="99999.00")
    assert core.account.locked["BTC"] == Decimal("0.5")
    core.engine.cancel({"symbol": "BTCUSDT", "orderId": str(o.id)})  # type: ignore[attr-defined]
    assert core.account.locked["BTC"] == 0 and core.account.free["BTC"] == 1
    with pytest.raises(BinanceError) as err:
        core.engine.cancel({"symbol": "BTCUSDT", "orderId": str(o.id)})  # type: ignore[attr-defined]
    assert err.value.code == -2011


def test_stop_loss_limit_waits_for_its_trigger(core: Exchange) -> None:
    m = core.markets["BTCUSDT"]
    stop = m.last_price - Decimal(1)
    with pytest.raises(BinanceError, match="trigger immediately"):
        order(
            core,
            side="SELL",
            type="STOP_LOSS_LIMIT",
            timeInForce="GTC",
            quantity="0.1",
            price=str(stop),
            stopPrice=str(m.last_price + 1),
        )
    o, fills, _ = order(
        core,
        side="SELL",
        type="STOP_LOSS_LIMIT",
        timeInForce="GTC",
        quantity="0.1",
        price=str(stop - 50),
        stopPrice=str(stop),
    )
    assert not fills and o.working_time == -1  # type: ignore[attr-defined]
    for _ in range(48):
        core.step(1)
        if o.status == "FILLED":  # type: ignore[attr-defined]
            break
    assert o.status == "FILLED" and o.working_time != -1  # type: ignore[attr-defined]
    assert all(f.price >= stop - 50 for f in core.engine.fills)
    assert_conserved(core)


def test_volume_share_makes_big_orders_fill_partially(core: Exchange) -> None:
    core.engine.volume_share = Decimal("0.00001")
    cap = core.markets["BTCUSDT"].step_capacity(core.engine.volume_share)
    o, _, _ = order(core, side="BUY", type="MARKET", quantity="0.2")
    assert o.status == "EXPIRED" and o.executed == cap and 0 < cap < Decimal("0.2")  # type: ignore[attr-defined]
    assert_conserved(core)


def test_fok_fills_completely_or_not_at_all_and_ioc_expires_the_rest(core: Exchange) -> None:
    core.engine.volume_share = Decimal("0.00001")
    high = str(core.markets["BTCUSDT"].ask + 100)
    fok, fills, _ = order(core, side="BUY", type="LIMIT", timeInForce="FOK", quantity="0.2", price=high)
    assert fok.status == "EXPIRED" and not fills  # type: ignore[attr-defined]
    ioc, fills, _ = order(core, side="BUY", type="LIMIT", timeInForce="IOC", quantity="0.2", price=high)
    assert ioc.status == "EXPIRED" and fills and ioc.executed < Decimal("0.2")  # type: ignore[attr-defined]
    assert core.account.locked["USDT"] == 0
    assert_conserved(core)


def test_partial_fill_mode_fills_half_of_what_is_left(core: Exchange) -> None:
    core.engine.partial_only = True
    o, fills, _ = order(core, side="BUY", type="MARKET", quantity="0.01")
    assert o.status == "EXPIRED" and fills[0].qty == Decimal("0.005")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"quantity": "0.000001", "price": "30000.00"}, -1013, "LOT_SIZE"),
        ({"quantity": "0.001", "price": "30000.001"}, -1013, "PRICE_FILTER"),
        ({"quantity": "0.0001", "price": "30000.00"}, -1013, "NOTIONAL"),
        ({"quantity": "10000", "price": "30000.00"}, -1013, "LOT_SIZE"),
        ({"quantity": "1", "price": "30000.00"}, -2010, "insufficient balance"),
        ({"quantity": "abc", "price": "30000.00"}, -1100, "Illegal characters"),
        ({"price": "30000.00"}, -1102, "quantity"),
    ],
)
def test_rejections_use_binance_codes(core: Exchange, params: dict[str, str], code: int, text: str) -> None:
    with pytest.raises(BinanceError) as err:
        order(core, side="BUY", type="LIMIT", timeInForce="GTC", **params)
    assert err.value.code == code and text in err.value.msg
    assert core.engine.orders == {}


def test_unknown_symbol_type_and_side(core: Exchange) -> None:
    for params, code in (
        ({"symbol": "XYZUSDT"}, -1121),
        ({"type": "ICEBERG"}, -1116),
        ({"side": "HOLD"}, -1117),
    ):
        base = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01", **params}
        with pytest.raises(BinanceError) as err:
            core.engine.place(base)
        assert err.value.code == code


def test_duplicate_client_order_id_among_open_orders_is_rejected(core: Exchange) -> None:
    args = {
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01",
        "price": "1000.00",
        "newClientOrderId": "my-order-1",
    }
    first, _, _ = order(core, **args)
    with pytest.raises(BinanceError, match="Duplicate order sent"):
        order(core, **args)
    core.engine.cancel({"symbol": "BTCUSDT", "origClientOrderId": "my-order-1"})
    again, _, _ = order(core, **args)  # Binance allows reuse once the first is no longer open
    assert again.id != first.id  # type: ignore[attr-defined]
    found = core.engine.find({"symbol": "BTCUSDT", "origClientOrderId": "my-order-1"}, (-2013, "x"))
    assert found is again


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_conservation_over_a_random_session(core: Exchange, seed: int) -> None:
    rng = random.Random(seed)
    m = core.markets["BTCUSDT"]
    for _ in range(60):
        last = m.last_price
        side = rng.choice(["BUY", "SELL"])
        qty = str(Decimal(rng.randint(10, 3000)) / 100000)
        kind = rng.choice(["MARKET", "LIMIT", "LIMIT", "STOP"])
        try:
            if kind == "MARKET":
                order(core, side=side, type="MARKET", quantity=qty)
            elif kind == "LIMIT":
                off = Decimal(rng.randint(-300, 300))
                order(
                    core,
                    side=side,
                    type="LIMIT",
                    timeInForce=rng.choice(["GTC", "IOC"]),
                    quantity=qty,
                    price=str(last + off),
                )
            else:
                sign = -1 if side == "SELL" else 1
                stop = last + sign * rng.randint(50, 400)
                order(
                    core,
                    side=side,
                    type="STOP_LOSS_LIMIT",
                    timeInForce="GTC",
                    quantity=qty,
                    stopPrice=str(stop),
                    price=str(stop + sign * 20),
                )
        except BinanceError as exc:
            assert exc.code in (-2010, -1013)
        if rng.random() < 0.3:
            open_orders = [o for book in core.engine.open.values() for o in book.values()]
            if open_orders:
                core.engine.cancel({"symbol": "BTCUSDT", "orderId": str(rng.choice(open_orders).id)})
        core.advance_ms(rng.randint(1, 4) * 300_000)
        assert_conserved(core)
    assert len(core.engine.fills) > 10
