from decimal import Decimal

import pytest

from tradewarden.domain.instrument import FilterViolation, Instrument, Rounding

BTC = Instrument.default_spot("BTC/USDT")


def test_price_and_qty_rounding_is_exact() -> None:
    assert BTC.round_price("50000.005", Rounding.DOWN) == Decimal("50000.00")
    assert BTC.round_price("50000.005", Rounding.UP) == Decimal("50000.01")
    assert BTC.round_qty(0.123456789) == Decimal("0.12345")
    # the classic float trap: 0.1 + 0.2 must not leak into a quantity
    assert BTC.round_qty(0.1 + 0.2) == Decimal("0.30000")
    assert BTC.to_ticks("69000.01") == 6_900_001
    assert BTC.from_ticks(6_900_001) == Decimal("69000.01")
    assert BTC.from_steps(12_345) == Decimal("0.12345")
    assert BTC.from_atoms(BTC.to_atoms("10000")) == Decimal("10000")


@pytest.mark.parametrize(
    ("qty", "price", "filter_name"),
    [
        ("0.000015", "50000", "LOT_SIZE"),     # off the step
        ("0", "50000", "LOT_SIZE"),
        ("9000.00001", "50000", "LOT_SIZE"),   # above max
        ("0.0001", "50000.001", "PRICE_FILTER"),
        ("0.00009", "50000", "NOTIONAL"),      # 4.5 USDT < 5
    ],
)
def test_filters_name_the_violation(qty: str, price: str, filter_name: str) -> None:
    with pytest.raises(FilterViolation) as exc:
        BTC.check(Decimal(qty), Decimal(price))
    assert exc.value.filter_name == filter_name


def test_filters_accept_at_the_boundaries() -> None:
    BTC.check(Decimal("0.0001"), Decimal("50000"))   # notional exactly 5
    BTC.check(Decimal("9000"), Decimal("0.01"))      # max qty exactly


def test_exact_texts_of_a_grid_with_trailing_zeros_do_not_depend_on_other_grids() -> None:
    # Decimal("0.01") == Decimal("0.010"): a cache keyed on the value gave the second the first one's places
    plain = Instrument("A/B", "A", "B", Decimal("0.01"), Decimal("0.01"))
    padded = Instrument("C/D", "C", "D", Decimal("0.010"), Decimal("0.010"))
    assert plain.ticks_text(101) == str(plain.from_ticks(101)) == "1.01"
    assert padded.ticks_text(101) == str(padded.from_ticks(101)) == "1.010"
