from decimal import Decimal

from tradewarden.venues.reconcile import OpenOrderView, reconcile

D = Decimal


def order(cid: str, filled: str = "0") -> OpenOrderView:
    return OpenOrderView(cid, "BTC/USDT", "buy", D("0.1"), D(filled))


def test_agreement_gives_nothing() -> None:
    assert reconcile([order("tw-a")], [order("tw-a")], {"USDT": D("100")}, {"USDT": D("100.004")},
                     {"USDT": D("0.01")}) == []


def test_each_kind_of_difference_is_named() -> None:
    found = reconcile(
        ours_open=[order("tw-a"), order("tw-gone"), order("tw-part")],
        theirs_open=[order("tw-a"), order("manual-1"), order("tw-part", "0.05")],
        ours_balances={"USDT": D("100"), "BTC": D("0.5")},
        theirs_balances={"USDT": D("100.02"), "BTC": D("0.5"), "ETH": D("1")},
        tolerance={"USDT": D("0.01")},
    )
    kinds = sorted((m.kind, m.subject) for m in found)
    assert kinds == [
        ("BALANCE_MISMATCH", "ETH"), ("BALANCE_MISMATCH", "USDT"), ("FILL_MISMATCH", "tw-part"),
        ("MISSING_OPEN_ORDER", "tw-gone"), ("UNKNOWN_OPEN_ORDER", "manual-1"),
    ]
    unknown = next(m for m in found if m.kind == "UNKNOWN_OPEN_ORDER")
    assert "not placed by this bot" in unknown.describe() and "--adopt" in unknown.describe()


def test_balance_tolerance_boundary() -> None:
    assert reconcile([], [], {"USDT": D("100")}, {"USDT": D("100.01")}, {"USDT": D("0.01")}) == []
    assert len(reconcile([], [], {"USDT": D("100")}, {"USDT": D("100.011")}, {"USDT": D("0.01")})) == 1
