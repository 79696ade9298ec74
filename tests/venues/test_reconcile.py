from decimal import Decimal

from tradewarden.venues.reconcile import (
    Judgement,
    Mismatch,
    OpenOrderView,
    ReconcileMemory,
    foreign_orders,
    judge,
    reconcile,
)

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


# -- the periodic reconciliation's debounce (judge) and the foreign writer (foreign_orders) ------------------
def balance(ours: str, theirs: str) -> list[Mismatch]:
    return reconcile([], [], {"BTC": D(ours)}, {"BTC": D(theirs)})


def run(*rounds: list[Mismatch]) -> list[Judgement]:
    memory, out = ReconcileMemory(), []
    for found in rounds:
        verdict = judge(memory, found)
        memory = verdict.memory
        out.append(verdict)
    return out


def test_a_difference_seen_once_is_suspect_and_seen_again_is_confirmed_whatever_its_amounts() -> None:
    first, second = run(balance("0.01", "0.02"), balance("0.01", "0.03"))
    assert [m.subject for m in first.suspect] == ["BTC"] and first.confirmed == ()
    assert [m.subject for m in second.confirmed] == ["BTC"] and second.suspect == ()


def test_a_difference_that_comes_back_after_a_clean_reconciliation_is_confirmed() -> None:
    """Two bots on one account: the other's position shows at every other reconciliation, never twice in a row."""
    verdicts = run(balance("0.01", "0.02"), balance("0", "0"), balance("0.01", "0.02"))
    assert [len(v.confirmed) for v in verdicts] == [0, 0, 1]
    assert verdicts[1].suspect == ()


def test_an_in_flight_fill_is_forgiven_once() -> None:
    verdicts = run(balance("0.01", "0.02"), [], [], balance("0", "0.01"), [])
    assert all(v.confirmed == () for v in verdicts)
    assert [len(v.suspect) for v in verdicts] == [1, 0, 0, 1, 0]


def test_the_same_order_differing_in_another_way_is_the_same_difference() -> None:
    partly = reconcile([order("tw-a")], [order("tw-a", "0.05")], {}, {})
    gone = reconcile([order("tw-a")], [], {}, {})
    assert [m.kind for m in partly] == ["FILL_MISMATCH"] and [m.kind for m in gone] == ["MISSING_OPEN_ORDER"]
    _, second = run(partly, gone)
    assert [(m.kind, m.subject) for m in second.confirmed] == [("MISSING_OPEN_ORDER", "tw-a")]


def seen(cid: str, exchange_id: str) -> OpenOrderView:
    return OpenOrderView(cid, "BTC/USDT", "buy", D("0.01"), D("0.01"), exchange_id=exchange_id)


def test_orders_under_our_prefix_that_this_bot_did_not_send_are_a_foreign_writer() -> None:
    exchange = [seen("tw-old-1", "1"), seen("tw-x-100-0", "7"), seen("tw-x-100-0", "8"), seen("tw-x-200-0", "9"),
                seen("manual-1", "10"), seen("tw-pending", "11")]
    found = foreign_orders(exchange, {"tw-x-100-0": "7", "tw-pending": None}, {"1"}, "tw-")
    assert [(m.kind, m.subject, m.theirs.split(":")[0]) for m in found] == [
        ("FOREIGN_WRITER", "tw-x-100-0", "order 8"),   # a second order under an id this bot sent once
        ("FOREIGN_WRITER", "tw-x-200-0", "order 9"),   # an id this bot never used
    ]
    assert "never used" in found[1].describe() and "sent once" in found[0].describe()
    # an order whose create answer is pending may be ours, unless two orders carry its id
    twice = foreign_orders([seen("tw-pending", "11"), seen("tw-pending", "12")], {"tw-pending": None}, set(), "tw-")
    assert [m.theirs.split(":")[0] for m in twice] == ["order 11", "order 12"]


def test_a_foreign_writer_is_confirmed_at_once() -> None:
    found = foreign_orders([seen("tw-x-200-0", "9")], {}, set(), "tw-")
    (verdict,) = run(found)
    assert verdict.foreign == verdict.confirmed and len(verdict.confirmed) == 1
