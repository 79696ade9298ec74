from decimal import Decimal

import pytest

from tradewarden.domain.orders import OrderSide
from tradewarden.domain.portfolio import Account, Fill, Position


def fill(side: OrderSide, qty: str, price: str, fee: str = "0") -> Fill:
    return Fill(0, "c", "BTC/USDT", side, Decimal(qty), Decimal(price), Decimal(fee))


def test_position_average_and_realised_pnl() -> None:
    p = Position("BTC/USDT")
    p.apply(fill(OrderSide.BUY, "1", "100"))
    p.apply(fill(OrderSide.BUY, "1", "110"))
    assert p.avg_price == Decimal("105")
    realised = p.apply(fill(OrderSide.SELL, "0.5", "120"))
    assert realised == Decimal("7.5")
    assert p.qty == Decimal("1.5")
    p.apply(fill(OrderSide.SELL, "2.5", "100"))  # through zero into a short
    assert p.qty == Decimal("-1")
    assert p.avg_price == Decimal("100")
    assert p.realized_pnl == Decimal("7.5") + Decimal("-7.5")


def test_account_balances_are_exact_and_guarded() -> None:
    a = Account({"USDT": Decimal("1000")})
    a.apply_fill(fill(OrderSide.BUY, "0.1", "3000.01", "0.300001"), "BTC", "USDT")
    assert a.total("USDT") == Decimal("1000") - Decimal("300.001") - Decimal("0.300001")
    assert a.total("BTC") == Decimal("0.1")
    a.lock("USDT", Decimal("100"))
    assert a.free["USDT"] + a.locked["USDT"] == a.total("USDT")
    with pytest.raises(ValueError):
        a.unlock("USDT", Decimal("100.01"))
    with pytest.raises(ValueError):
        a.apply_fill(fill(OrderSide.SELL, "1", "3000"), "BTC", "USDT")  # no short on spot
