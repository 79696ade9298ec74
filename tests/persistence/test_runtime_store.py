"""RuntimeStore: orders upserted by client id, fills booked once, balances, exact snapshots, step transactions
(SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, inspect, select, update
from sqlalchemy.exc import IntegrityError

from tradewarden.domain.orders import Order, OrderSide, OrderStatus, OrderType
from tradewarden.domain.portfolio import Fill
from tradewarden.persistence import Database
from tradewarden.persistence.runtime_models import RuntimeFillRow, RuntimeOrderRow, RuntimeSnapshotRow
from tradewarden.persistence.runtime_store import RuntimeStore, StoredStateError


@pytest.fixture
def db(db_url: str | None, tmp_path: Path) -> Iterator[Database]:
    with Database.open(db_url, tmp_path) as database:
        yield database


@pytest.fixture
def store(db: Database) -> RuntimeStore:
    return RuntimeStore(db, f"paper:sim:BTC/USDT:{uuid.uuid4().hex[:8]}")


def limit_order(cid: str, **changes: Any) -> Order:
    fields: dict[str, Any] = {
        "client_id": cid, "symbol": "BTC/USDT", "side": OrderSide.BUY, "type": OrderType.LIMIT,
        "qty": Decimal("0.00123"), "price": Decimal("41234.57"), "created_ts": 1_700_000_000_000,
    }
    fields.update(changes)
    return Order(**fields)


def fill_of(cid: str, qty: str = "0.001", ts: int = 1_700_000_060_000) -> Fill:
    return Fill(ts=ts, client_id=cid, symbol="BTC/USDT", side=OrderSide.BUY, qty=Decimal(qty),
                price=Decimal("41234.57"), fee=Decimal("0.041234570"), liquidity="maker", reason="order")


def order_fields(order: Order) -> tuple[Any, ...]:
    return (order.client_id, order.symbol, order.side, order.type, order.qty, order.price, order.stop_price,
            order.stop_loss, order.take_profit, order.reduce_only, order.created_ts, order.status, order.filled_qty,
            order.exchange_id, order.reason)


def count(db: Database, table: Any, account: str) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(table).where(table.account == account)) or 0)


# -- orders ----------------------------------------------------------------------------------------------
def test_order_round_trips_every_field(store: RuntimeStore) -> None:
    order = Order(client_id="tw-sma-1700000000000-b", symbol="ETH/USDT", side=OrderSide.SELL,
                  type=OrderType.STOP_LIMIT, qty=Decimal("1.2345"), price=Decimal("2000.01"),
                  stop_price=Decimal("2001.5"), stop_loss=Decimal("2100"), take_profit=Decimal("1800.25"),
                  reduce_only=True, created_ts=1_700_000_000_123, exchange_id="88812", reason="entry")
    order.transition(OrderStatus.SUBMITTED)
    order.transition(OrderStatus.ACCEPTED)
    order.record_fill(Decimal("0.0005"))
    store.save_order_now(order, 1_700_000_000_500)
    loaded = store.order(order.client_id)
    assert loaded is not None
    assert order_fields(loaded) == order_fields(order)
    assert loaded.status is OrderStatus.PARTIALLY_FILLED and loaded.remaining == Decimal("1.234")


def test_saving_again_updates_the_one_row(store: RuntimeStore, db: Database) -> None:
    order = limit_order("c1")
    store.save_order_now(order, 1)                    # intent stored before sending
    order.transition(OrderStatus.SUBMITTED)
    with store.step() as w:
        w.save_order(order, 2)
    order.transition(OrderStatus.ACCEPTED)
    order.exchange_id = "x-77"
    order.record_fill(order.qty)
    order.reason = "filled at open"
    with store.step() as w:
        w.save_order(order, 3)
        w.save_order(order, 4)                         # a retried write in the same step changes nothing more
    assert count(db, RuntimeOrderRow, store.account) == 1
    loaded = store.order("c1")
    assert loaded is not None and order_fields(loaded) == order_fields(order)
    with db.session() as s:
        assert s.get(RuntimeOrderRow, (store.account, "c1")).updated_ts == 4  # type: ignore[union-attr]


def test_open_orders_are_those_not_final(store: RuntimeStore) -> None:
    states = {
        "new": [],
        "submitted": [OrderStatus.SUBMITTED],
        "accepted": [OrderStatus.SUBMITTED, OrderStatus.ACCEPTED],
        "partial": [OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED],
        "filled": [OrderStatus.SUBMITTED, OrderStatus.FILLED],
        "cancelled": [OrderStatus.SUBMITTED, OrderStatus.CANCELLED],
        "rejected": [OrderStatus.REJECTED],
        "expired": [OrderStatus.SUBMITTED, OrderStatus.EXPIRED],
    }
    with store.step() as w:
        for i, (cid, path) in enumerate(states.items()):
            order = limit_order(cid, created_ts=1000 + i)
            for to in path:
                order.transition(to)
            w.save_order(order, 5000)
    assert [o.client_id for o in store.orders()] == list(states)
    assert [o.client_id for o in store.orders(open_only=True)] == ["new", "submitted", "accepted", "partial"]
    # an open order that closes leaves the open set
    closing = store.order("partial")
    assert closing is not None
    closing.transition(OrderStatus.CANCELLED)
    store.save_order_now(closing, 6000)
    assert [o.client_id for o in store.orders(open_only=True)] == ["new", "submitted", "accepted"]


def test_order_lookups(store: RuntimeStore) -> None:
    assert store.order("missing") is None
    assert store.orders() == []
    store.save_order_now(limit_order("c1", exchange_id="ex-1"), 1)
    found = store.order_by_exchange_id("ex-1")
    assert found is not None and found.client_id == "c1"
    assert store.order_by_exchange_id("ex-2") is None


def test_accounts_are_separate(db: Database) -> None:
    a = RuntimeStore(db, f"paper:a:{uuid.uuid4().hex[:8]}")
    b = RuntimeStore(db, f"paper:b:{uuid.uuid4().hex[:8]}")
    with a.step() as w:
        w.save_order(limit_order("same-id"), 1)
        w.record_fill(fill_of("same-id"), "same-id#1")
        w.save_balances({"USDT": Decimal("1")}, 1)
        w.save_snapshot("engine", {"who": "a"}, 1)
    with b.step() as w:
        w.save_order(limit_order("same-id", qty=Decimal("9")), 1)
        assert w.record_fill(fill_of("same-id", "0.5"), "same-id#1")   # same key, other account: booked
        w.save_snapshot("engine", {"who": "b"}, 1)
    assert a.order("same-id").qty == Decimal("0.00123")   # type: ignore[union-attr]
    assert b.order("same-id").qty == Decimal("9")         # type: ignore[union-attr]
    assert [f.qty for f in a.fills()] == [Decimal("0.001")] and [f.qty for f in b.fills()] == [Decimal("0.5")]
    assert a.balances() == {"USDT": Decimal("1")} and b.balances() == {}
    assert a.snapshot("engine") == {"who": "a"} and b.snapshot("engine") == {"who": "b"}


# -- fills -----------------------------------------------------------------------------------------------
def test_a_fill_is_booked_once(store: RuntimeStore, db: Database) -> None:
    with store.step() as w:
        assert w.record_fill(fill_of("c1", "0.001", ts=10), "c1#1") is True
        assert w.record_fill(fill_of("c1", "0.001", ts=10), "c1#1") is False      # same step
        assert w.record_fill(fill_of("c1", "0.00023", ts=20), "c1#2") is True
    with store.step() as w:                                                         # a retry after a restart
        assert w.record_fill(fill_of("c1", "0.001", ts=10), "c1#1") is False
        assert w.record_fill(fill_of("c2", "0.5", ts=30), "trade-9001") is True
    assert count(db, RuntimeFillRow, store.account) == 3
    assert store.fill_keys() == {"c1#1", "c1#2", "trade-9001"}
    assert store.fills() == [fill_of("c1", "0.001", ts=10), fill_of("c1", "0.00023", ts=20),
                             fill_of("c2", "0.5", ts=30)]
    assert [f.qty for f in store.fills(client_id="c1")] == [Decimal("0.001"), Decimal("0.00023")]


def test_fills_keep_insertion_order_not_time_order(store: RuntimeStore) -> None:
    keys = [f"k{n}" for n in (5, 1, 9, 3, 7)]
    with store.step() as w:
        for i, key in enumerate(keys):
            w.record_fill(fill_of(key, ts=1000 - i), key)
    assert [f.client_id for f in store.fills()] == keys


def test_the_database_itself_refuses_a_second_row(store: RuntimeStore, db: Database) -> None:
    # the guarantee does not depend on RuntimeStore being careful: the constraints are in the schema
    with store.step() as w:
        w.save_order(limit_order("c1"), 1)
        w.record_fill(fill_of("c1"), "c1#1")
    row = {"account": store.account, "key": "c1#1", "ts": 1, "client_id": "c1", "symbol": "BTC/USDT",
           "side": "buy", "qty": Decimal(1), "price": Decimal(1), "fee": Decimal(0), "liquidity": "taker",
           "reason": "order"}
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(RuntimeFillRow(**row))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(RuntimeOrderRow(account=store.account, client_id="c1", symbol="BTC/USDT", side="buy", type="market",
                              qty=Decimal(1), reduce_only=False, created_ts=0, status="new", is_open=True,
                              filled_qty=Decimal(0), reason="", updated_ts=0))


# -- balances and snapshots --------------------------------------------------------------------------------
def test_balances_are_exact_and_replaced(store: RuntimeStore) -> None:
    first = {"USDT": Decimal("10000.000000000000000001"), "BTC": Decimal("0.00000001")}
    with store.step() as w:
        w.save_balances(first, 1)
    assert store.balances() == first
    assert {k: str(v) for k, v in store.balances().items()} == {"USDT": "10000.000000000000000001",
                                                                "BTC": "1E-8"}
    with store.step() as w:
        w.save_balances({"USDT": Decimal("9950.5")}, 2)
        w.save_balances({"USDT": Decimal("9950.25"), "ETH": Decimal("0.1")}, 2)   # last write in the step wins
    assert store.balances() == {"USDT": Decimal("9950.25"), "ETH": Decimal("0.1")}
    with pytest.raises(StoredStateError, match="balance of USDT is a float"), store.step() as w:
        w.save_balances({"USDT": 1.5}, 3)  # type: ignore[dict-item]
    assert store.balances() == {"USDT": Decimal("9950.25"), "ETH": Decimal("0.1")}


def test_snapshot_round_trips_exactly(store: RuntimeStore) -> None:
    data = {
        "last_candle_ts": 1_700_000_000_000,
        "big": [2**53 + 1, 2**63 - 1, 2**63 + 12345, -(2**70) - 3, 10**40 + 7],
        "ticks": np.array([2**62 + 1, -5, 0], dtype=np.int64),
        "scalar": np.int64(2**60 + 3),
        "floats": [0.1, 1e-300, 123456789.123456789, float("nan"), float("inf")],
        "money": Decimal("0.1000000000000000055511151231257827021181583404541015625"),
        "strategy": {"fast": 10, "slow": 30, "armed": True, "note": None, "pair": ("BTC", "USDT"), "é": "ü"},
    }
    with store.step() as w:
        w.save_snapshot("engine", data, 1)
    got = store.snapshot("engine")
    assert got is not None
    assert got["last_candle_ts"] == 1_700_000_000_000
    assert got["big"] == [2**53 + 1, 2**63 - 1, 2**63 + 12345, -(2**70) - 3, 10**40 + 7]
    assert all(type(v) is int for v in got["big"] + got["ticks"] + [got["scalar"]])
    assert got["ticks"] == [2**62 + 1, -5, 0] and got["scalar"] == 2**60 + 3
    assert got["floats"][:3] == [0.1, 1e-300, 123456789.123456789]
    assert got["floats"][3] != got["floats"][3] and got["floats"][4] == float("inf")
    assert got["money"] == data["money"] and isinstance(got["money"], Decimal)
    assert got["strategy"] == {"fast": 10, "slow": 30, "armed": True, "note": None, "pair": ["BTC", "USDT"],
                               "é": "ü"}
    with store.step() as w:
        w.save_snapshot("engine", {"replaced": 1}, 2)
    assert store.snapshot("engine") == {"replaced": 1}
    assert store.snapshot("strategy") is None


def test_snapshot_is_text_in_the_database(store: RuntimeStore, db: Database) -> None:
    with store.step() as w:
        w.save_snapshot("engine", {"n": 2**64 + 1}, 1)
    with db.session() as s:
        text = s.scalar(select(RuntimeSnapshotRow.data).where(RuntimeSnapshotRow.account == store.account))
    assert text == '{"n":18446744073709551617}'


@pytest.mark.parametrize(("data", "message"), [
    ({"by_id": {1: "x"}}, r"snapshot 'engine' of account .*\.by_id: key 1 is a int, keys must be strings"),
    ({"when": object()}, r"\.when: cannot store a object"),
    ({"nested": [1, {"$decimal": "1"}]}, r"\.nested\[1\]: key '\$decimal' is reserved"),
])
def test_snapshot_refuses_what_would_not_come_back(store: RuntimeStore, data: dict[str, Any], message: str) -> None:
    with pytest.raises(StoredStateError, match=message), store.step() as w:
        w.save_snapshot("engine", data, 1)
    assert store.snapshot("engine") is None


# -- transactions ------------------------------------------------------------------------------------------
def test_a_failed_step_writes_nothing(store: RuntimeStore) -> None:
    store.save_order_now(limit_order("intent"), 1)            # its own transaction: survives the failure below
    with pytest.raises(RuntimeError, match="venue exploded"), store.step() as w:
        w.save_order(limit_order("c1"), 2)
        w.record_fill(fill_of("c1"), "c1#1")
        w.save_balances({"USDT": Decimal(5)}, 2)
        w.save_snapshot("engine", {"step": 1}, 2)
        raise RuntimeError("venue exploded")
    assert [o.client_id for o in store.orders()] == ["intent"]
    assert store.fills() == [] and store.fill_keys() == set()
    assert store.balances() == {} and store.snapshot("engine") is None
    with store.step() as w:                                      # the retry books the fill for the first time
        assert w.record_fill(fill_of("c1"), "c1#1")


def test_load_reads_everything_together(store: RuntimeStore) -> None:
    with store.step() as w:
        w.save_order(limit_order("c1"), 1)
        w.record_fill(fill_of("c1"), "c1#1")
        w.save_balances({"BTC": Decimal("0.001")}, 1)
        w.save_snapshot("engine", {"step": 1}, 1)
        w.save_snapshot("strategy", {"fast": 3}, 1)
    state = store.load()
    assert [o.client_id for o in state.orders] == ["c1"]
    assert state.fills == [fill_of("c1")] and state.fill_keys == {"c1#1"}
    assert state.balances == {"BTC": Decimal("0.001")}
    assert state.snapshots == {"engine": {"step": 1}, "strategy": {"fast": 3}}


def test_reset_forgets_only_this_account(db: Database) -> None:
    mine, other = (RuntimeStore(db, f"paper:{n}:{uuid.uuid4().hex[:8]}") for n in ("mine", "other"))
    for st in (mine, other):
        with st.step() as w:
            w.save_order(limit_order("c1"), 1)
            w.record_fill(fill_of("c1"), "c1#1")
            w.save_balances({"USDT": Decimal(1)}, 1)
            w.save_snapshot("engine", {"step": 1}, 1)
    mine.reset()
    assert mine.load().orders == [] and mine.fill_keys() == set() and mine.balances() == {}
    assert mine.snapshot("engine") is None
    assert len(other.orders()) == 1 and other.fill_keys() == {"c1#1"} and other.snapshot("engine") == {"step": 1}


# -- schema and bad input ----------------------------------------------------------------------------------
def test_indexes_for_open_orders_and_lookups(db: Database) -> None:
    insp = inspect(db.engine)
    order_indexes = {ix["name"]: ix["column_names"] for ix in insp.get_indexes("runtime_orders")}
    assert order_indexes["ix_runtime_orders_open"] == ["account", "is_open"]
    assert order_indexes["ix_runtime_orders_exchange_id"] == ["account", "exchange_id"]
    assert insp.get_pk_constraint("runtime_orders")["constrained_columns"] == ["account", "client_id"]
    uniques = {u["name"]: u["column_names"] for u in insp.get_unique_constraints("runtime_fills")}
    assert uniques == {"uq_runtime_fills_account_key": ["account", "key"]}


@pytest.mark.parametrize("account", ["", "   ", "x" * 129])
def test_bad_account_key(db: Database, account: str) -> None:
    with pytest.raises(StoredStateError, match="account key"):
        RuntimeStore(db, account)


def test_bad_ids_and_keys_are_named(store: RuntimeStore) -> None:
    with pytest.raises(StoredStateError, match=r"client order id 'x{101}' must be 1 to 100"):
        store.save_order_now(limit_order("x" * 101), 1)
    with pytest.raises(StoredStateError, match="fill key '' must be"), store.step() as w:
        w.record_fill(fill_of("c1"), "")
    with pytest.raises(StoredStateError, match="snapshot name"), store.step() as w:
        w.save_snapshot("n" * 65, {}, 1)


def test_unreadable_stored_rows_are_named(store: RuntimeStore, db: Database) -> None:
    with store.step() as w:
        w.save_order(limit_order("c1"), 1)
        w.save_snapshot("engine", {"step": 1}, 1)
    with db.session() as s:
        s.execute(update(RuntimeOrderRow).where(RuntimeOrderRow.account == store.account).values(side="sideways"))
        s.execute(update(RuntimeSnapshotRow).where(RuntimeSnapshotRow.account == store.account).values(data="{oops"))
    with pytest.raises(StoredStateError, match=r"stored order 'c1' is unreadable: 'sideways' is not a valid"):
        store.orders()
    with pytest.raises(StoredStateError, match=r"stored snapshot 'engine' is not valid JSON"):
        store.snapshot("engine")
