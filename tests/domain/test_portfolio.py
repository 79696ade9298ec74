from decimal import Decimal

import pytest

from tradewarden.domain.orders import OrderSide
from tradewarden.domain.portfolio import Account, Fill, Portfolio, Position, cash_unit


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


# -- the portfolio: one cash ledger over instruments with different money units ---------------------------
BTC_ATOM = Decimal("0.01") * Decimal("0.00001")  # 1e-7 USDT
ETH_ATOM = Decimal("0.01") * Decimal("0.0001")   # 1e-6 USDT


def test_cash_unit_is_the_finest_atom_and_refuses_a_unit_that_does_not_divide() -> None:
    assert cash_unit([ETH_ATOM, BTC_ATOM]) == BTC_ATOM
    with pytest.raises(ValueError, match=r"XYZ/USDT.*not a whole multiple"):
        cash_unit([Decimal("0.0000002"), Decimal("0.0000003")], ["ABC/USDT", "XYZ/USDT"])


def test_portfolio_books_each_symbols_money_exactly_into_one_ledger() -> None:
    p = Portfolio("USDT", ["BTC/USDT", "ETH/USDT"], [BTC_ATOM, ETH_ATOM], Decimal("1000.0000005"))
    assert p.scale == {"BTC/USDT": 1, "ETH/USDT": 10}
    assert p.cash == Decimal("1000.0000005")
    # ETH buys 0.5 at 2000.01: 50000 ticks × ... in ETH atoms; the ledger takes it ×10, exactly
    eth_atoms = 200001 * 5000  # ticks × steps = ETH atoms (1e-6): 1000.005 USDT
    p.book("ETH/USDT", -eth_atoms)
    p.steps["ETH/USDT"] = 5000
    assert p.cash == Decimal("1000.0000005") - Decimal("1000.005")
    # a runner sees the cash in its own atoms, rounded down: never more than the ledger holds
    assert p.cash_units < 0
    assert p.cash_atoms("ETH/USDT") * 10 <= p.cash_units
    p.book("BTC/USDT", 7)  # 7e-7 USDT
    assert p.cash == Decimal("1000.0000005") - Decimal("1000.005") + Decimal("0.0000007")


def test_portfolio_equity_is_cash_plus_every_marked_position() -> None:
    p = Portfolio("USDT", ["BTC/USDT", "ETH/USDT"], [BTC_ATOM, ETH_ATOM], Decimal("100"))
    p.steps["BTC/USDT"] = 200         # 0.002 BTC
    p.steps["ETH/USDT"] = -30         # 0.003 ETH short
    p.mark("BTC/USDT", 3_000_000)     # 30000.00
    p.mark("ETH/USDT", 200_050)       # 2000.50
    assert p.equity == Decimal("100") + Decimal("0.002") * Decimal("30000") - Decimal("0.003") * Decimal("2000.5")
    assert p.exposure_units() * p.unit == Decimal("60") + Decimal("6.0015")
    assert p.open_positions() == 2
    assert p.others_units("BTC/USDT") * p.unit == Decimal("-6.0015")
    assert p.equity_atoms("ETH/USDT") == p.equity_units() // 10


def test_a_symbol_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        Portfolio("USDT", ["BTC/USDT", "BTC/USDT"], [BTC_ATOM, BTC_ATOM], Decimal("1"))
