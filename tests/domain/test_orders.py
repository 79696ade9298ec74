from decimal import Decimal

import pytest

from tradewarden.domain.orders import TRANSITIONS, InvalidTransition, Order, OrderSide, OrderStatus, OrderType


def make(qty: str = "1") -> Order:
    return Order("c1", "BTC/USDT", OrderSide.BUY, OrderType.MARKET, Decimal(qty))


def test_happy_path_through_partial_fills() -> None:
    o = make("1")
    o.transition(OrderStatus.SUBMITTED)
    o.transition(OrderStatus.ACCEPTED)
    o.record_fill(Decimal("0.4"))
    assert o.status is OrderStatus.PARTIALLY_FILLED
    o.record_fill(Decimal("0.6"))
    assert o.status is OrderStatus.FILLED
    assert o.remaining == 0
    assert o.history[-1] == (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)


@pytest.mark.parametrize("start", list(OrderStatus))
@pytest.mark.parametrize("end", list(OrderStatus))
def test_every_pair_outside_the_table_raises(start: OrderStatus, end: OrderStatus) -> None:
    o = make()
    o.status = start
    if (start, end) in TRANSITIONS:
        o.transition(end)
        assert o.status is end
    else:
        with pytest.raises(InvalidTransition):
            o.transition(end)
        assert o.status is start


def test_final_states_have_no_way_out() -> None:
    for final in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED):
        assert final.is_final
        assert not [t for t in TRANSITIONS if t[0] is final]


def test_overfill_is_refused() -> None:
    o = make("1")
    o.transition(OrderStatus.SUBMITTED)
    with pytest.raises(ValueError):
        o.record_fill(Decimal("1.5"))


def test_limit_order_needs_price_and_stop_needs_stop() -> None:
    with pytest.raises(ValueError):
        Order("c", "BTC/USDT", OrderSide.BUY, OrderType.LIMIT, Decimal(1))
    with pytest.raises(ValueError):
        Order("c", "BTC/USDT", OrderSide.BUY, OrderType.STOP_LIMIT, Decimal(1), price=Decimal(1))
