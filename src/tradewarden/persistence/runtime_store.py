"""Crash-safe state of one trading session scope: orders, fills, paper balances and JSON snapshots.

A candle step writes everything it changed inside :meth:`RuntimeStore.step`, one transaction: after a crash the
database holds either the whole step or none of it. Duplicates are impossible by construction, not by care:
orders are upserted on ``(account, client_id)`` and fills inserted with ``ON CONFLICT DO NOTHING`` on
``(account, key)``, so replaying a step after a restart changes nothing that was already committed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, CursorResult, Engine, Row, Table, delete, select
from sqlalchemy.orm import Session

from tradewarden.domain.orders import FINAL_STATES, Order, OrderSide, OrderStatus, OrderType
from tradewarden.domain.portfolio import Fill
from tradewarden.persistence.database import Database
from tradewarden.persistence.runtime_models import (
    ACCOUNT_LEN,
    CLIENT_ID_LEN,
    FILL_KEY_LEN,
    SNAPSHOT_NAME_LEN,
    RuntimeBalanceRow,
    RuntimeFillRow,
    RuntimeOrderRow,
    RuntimeSnapshotRow,
)
from tradewarden.persistence.statements import dialect_insert, upsert

ORDERS = cast(Table, RuntimeOrderRow.__table__)
FILLS = cast(Table, RuntimeFillRow.__table__)
BALANCES = cast(Table, RuntimeBalanceRow.__table__)
SNAPSHOTS = cast(Table, RuntimeSnapshotRow.__table__)

#: how a Decimal travels inside a snapshot's JSON (JSON numbers would lose its exactness and its type)
DECIMAL_TAG = "$decimal"


class StoredStateError(ValueError):
    """A value cannot be stored, or a stored row cannot be read back; the message names the account and row."""


# -- snapshots as JSON text ------------------------------------------------------------------------------
def _to_json_value(value: Any, where: str) -> Any:
    """``value`` as plain JSON types; Decimals tagged, numpy arrays and scalars through ``tolist()``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return {DECIMAL_TAG: str(value)}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                # json.dumps would silently turn 1 into "1" and the state would not come back as it went in
                raise StoredStateError(f"{where}: key {k!r} is a {type(k).__name__}, keys must be strings")
            if k == DECIMAL_TAG:
                raise StoredStateError(f"{where}: key {DECIMAL_TAG!r} is reserved for decimals")
            out[k] = _to_json_value(v, f"{where}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [_to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, without importing numpy here
    if callable(tolist):
        return _to_json_value(tolist(), where)
    raise StoredStateError(f"{where}: cannot store a {type(value).__name__} ({value!r:.60}) in a snapshot")


def _decode_object(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and DECIMAL_TAG in obj:
        return Decimal(obj[DECIMAL_TAG])
    return obj


def encode_snapshot(name: str, data: Mapping[str, Any]) -> str:
    """JSON text for ``data``. Python's json keeps integers of any size and every float exactly (both ways;
    NaN and infinities are written as JavaScript's ``NaN``/``Infinity``, which only Python needs to read)."""
    return json.dumps(_to_json_value(data, name), separators=(",", ":"))


def decode_snapshot(text: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(text, object_hook=_decode_object)
    return decoded


# -- rows <-> domain values ------------------------------------------------------------------------------
def _order_values(account: str, order: Order, ts: int) -> dict[str, Any]:
    if not order.client_id or len(order.client_id) > CLIENT_ID_LEN:
        raise StoredStateError(f"account {account}: client order id {order.client_id!r} must be 1 to "
                               f"{CLIENT_ID_LEN} characters")
    return {
        "account": account,
        "client_id": order.client_id,
        "symbol": order.symbol,
        "side": OrderSide(order.side).value,
        "type": OrderType(order.type).value,
        "qty": order.qty,
        "price": order.price,
        "stop_price": order.stop_price,
        "stop_loss": order.stop_loss,
        "take_profit": order.take_profit,
        "reduce_only": order.reduce_only,
        "created_ts": order.created_ts,
        "status": OrderStatus(order.status).value,
        "is_open": order.status not in FINAL_STATES,
        "filled_qty": order.filled_qty,
        "exchange_id": order.exchange_id,
        "reason": order.reason,
        "updated_ts": ts,
    }


def _order_from_row(row: Row[Any]) -> Order:
    try:
        return Order(
            client_id=row.client_id, symbol=row.symbol, side=OrderSide(row.side), type=OrderType(row.type),
            qty=row.qty, price=row.price, stop_price=row.stop_price, stop_loss=row.stop_loss,
            take_profit=row.take_profit, reduce_only=row.reduce_only, created_ts=row.created_ts,
            status=OrderStatus(row.status), filled_qty=row.filled_qty, exchange_id=row.exchange_id,
            reason=row.reason,
        )
    except ValueError as exc:
        raise StoredStateError(f"account {row.account}: stored order {row.client_id!r} is unreadable: {exc}") from None


def _fill_from_row(row: Row[Any]) -> Fill:
    try:
        side = OrderSide(row.side)
    except ValueError as exc:
        raise StoredStateError(f"account {row.account}: stored fill {row.key!r} is unreadable: {exc}") from None
    return Fill(ts=row.ts, client_id=row.client_id, symbol=row.symbol, side=side, qty=row.qty, price=row.price,
                fee=row.fee, liquidity=row.liquidity, reason=row.reason, fee_base=row.fee_base)


@dataclass(frozen=True)
class _Writes:
    """The step's statements, built once per dialect and executed with parameters (building an upsert is
    costlier than running it on SQLite). Both dialects have ``INSERT ... ON CONFLICT``."""

    upsert_order: Any
    insert_fill: Any
    insert_balance: Any
    upsert_snapshot: Any


@cache
def _writes(dialect: str) -> _Writes:
    insert_ = dialect_insert(dialect)
    if insert_ is None:
        raise StoredStateError(f"the runtime store supports SQLite and PostgreSQL, not {dialect}")
    return _Writes(
        upsert_order=upsert(insert_, ORDERS),
        insert_fill=insert_(FILLS).on_conflict_do_nothing(index_elements=["account", "key"]),
        insert_balance=insert_(BALANCES),
        upsert_snapshot=upsert(insert_, SNAPSHOTS),
    )


# -- writing ---------------------------------------------------------------------------------------------
class StepWriter:
    """Everything one step changed, written in the transaction :meth:`RuntimeStore.step` opened."""

    def __init__(self, conn: Connection, account: str) -> None:
        self._conn = conn
        self._sql = _writes(conn.dialect.name)
        self.account = account

    def save_order(self, order: Order, ts: int) -> None:
        """Insert or update the order's row (every field, and ``updated_ts = ts``)."""
        self._conn.execute(self._sql.upsert_order, _order_values(self.account, order, ts))

    def record_fill(self, fill: Fill, key: str) -> bool:
        """Book ``fill`` under ``key`` once; False (and nothing written) when the key is already booked."""
        if not key or len(key) > FILL_KEY_LEN:
            raise StoredStateError(f"account {self.account}: fill key {key!r} must be 1 to {FILL_KEY_LEN} characters")
        row = {"account": self.account, "key": key, "ts": fill.ts, "client_id": fill.client_id,
               "symbol": fill.symbol, "side": OrderSide(fill.side).value, "qty": fill.qty, "price": fill.price,
               "fee": fill.fee, "fee_base": fill.fee_base, "liquidity": fill.liquidity, "reason": fill.reason}
        result: CursorResult[Any] = self._conn.execute(self._sql.insert_fill, row)
        return result.rowcount == 1

    def save_balances(self, balances: Mapping[str, Decimal], ts: int) -> None:
        """Replace the account's balances with ``balances`` (assets left out are removed)."""
        for asset, amount in balances.items():
            if not isinstance(amount, Decimal):
                raise StoredStateError(f"account {self.account}: balance of {asset} is a {type(amount).__name__}, "
                                       "not a Decimal")
        self._conn.execute(delete(RuntimeBalanceRow).where(RuntimeBalanceRow.account == self.account))
        if balances:
            self._conn.execute(self._sql.insert_balance, [
                {"account": self.account, "asset": asset, "amount": amount, "updated_ts": ts}
                for asset, amount in balances.items()
            ])

    def save_snapshot(self, name: str, data: Mapping[str, Any], ts: int) -> None:
        """Store ``data`` as JSON text under ``name`` (replacing the previous one).

        Integers of any size, floats, strings, booleans, None, lists, string-keyed dicts and Decimals come
        back exactly; tuples and numpy arrays come back as lists.
        """
        if not name or len(name) > SNAPSHOT_NAME_LEN:
            raise StoredStateError(f"account {self.account}: snapshot name {name!r} must be 1 to "
                                   f"{SNAPSHOT_NAME_LEN} characters")
        text = encode_snapshot(f"snapshot {name!r} of account {self.account}", data)
        self._conn.execute(self._sql.upsert_snapshot,
                              {"account": self.account, "name": name, "data": text, "updated_ts": ts})


    def delete_snapshots(self, prefix: str) -> None:
        """Remove every snapshot whose name starts with ``prefix`` (e.g. the chunks of a finished run)."""
        self._conn.execute(delete(RuntimeSnapshotRow).where(
            RuntimeSnapshotRow.account == self.account,
            RuntimeSnapshotRow.name.startswith(prefix, autoescape=True)))


# -- the store -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredState:
    """Everything stored for an account, read in one transaction (a consistent picture for a restart)."""

    orders: list[Order]
    fills: list[Fill]
    fill_keys: set[str]
    balances: dict[str, Decimal]
    snapshots: dict[str, dict[str, Any]]


class RuntimeStore:
    """Crash-safe state of one trading session scope (an account key such as ``"paper:sim:BTC/USDT"``)."""

    def __init__(self, db: Database, account: str) -> None:
        if not isinstance(account, str) or not account.strip() or len(account) > ACCOUNT_LEN:
            raise StoredStateError(f"account key {account!r} must be a non-empty string of at most "
                                   f"{ACCOUNT_LEN} characters")
        self.db = db
        self.account = account
        # SQLite: take the write lock when the step begins, so a step never fails half-way on a lock upgrade
        # (a deferred transaction that reads then writes cannot wait for another writer, only fail)
        self._writer: Engine = db.engine.execution_options(sqlite_begin="IMMEDIATE")

    @contextmanager
    def step(self) -> Iterator[StepWriter]:
        """One transaction for everything a candle step changed: committed when the block ends, rolled back
        (nothing written) if it raises.

        A Core connection, not an ORM session: the writes are plain statements, and the session's bookkeeping
        costs a few tenths of a millisecond on the intent written just before an order is sent."""
        with self._writer.begin() as conn:
            yield StepWriter(conn, self.account)

    def save_order_now(self, order: Order, ts: int) -> None:
        """Save one order in a transaction of its own: the intent stored before sending, or the answer after."""
        with self.step() as w:
            w.save_order(order, ts)

    def reset(self) -> None:
        """Delete everything stored for this account (a fresh paper session, or after adopting the exchange's view)."""
        with self._writer.begin() as conn:
            for table in (RuntimeOrderRow, RuntimeFillRow, RuntimeBalanceRow, RuntimeSnapshotRow):
                conn.execute(delete(table).where(table.account == self.account))

    # -- reading (each call is its own read transaction; plain rows, no ORM objects, for speed) -------------
    def orders(self, open_only: bool = False) -> list[Order]:
        """The account's orders by creation time, then client id; ``open_only``: not in a final state."""
        with self.db.session() as s:
            return self._orders(s, ORDERS.c.is_open.is_(True) if open_only else None)

    def order(self, client_id: str) -> Order | None:
        with self.db.session() as s:
            found = self._orders(s, ORDERS.c.client_id == client_id)
        return found[0] if found else None

    def order_by_exchange_id(self, exchange_id: str) -> Order | None:
        """The order the exchange knows as ``exchange_id`` (reconciliation), if we have it."""
        with self.db.session() as s:
            found = self._orders(s, ORDERS.c.exchange_id == exchange_id)
        return found[0] if found else None

    def fills(self, client_id: str | None = None) -> list[Fill]:
        """The account's fills in the order they were booked (of one order if ``client_id`` is given)."""
        with self.db.session() as s:
            return self._fills(s, client_id)

    def fill_keys(self) -> set[str]:
        with self.db.session() as s:
            return self._fill_keys(s)

    def balances(self) -> dict[str, Decimal]:
        with self.db.session() as s:
            return self._balances(s)

    def snapshot(self, name: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            return self._snapshots(s, name).get(name)

    def load(self) -> StoredState:
        """Orders, fills, balances and every snapshot, read in one transaction so they agree with each other."""
        with self.db.session() as s:
            if s.get_bind().dialect.name == "postgresql":
                # one snapshot of the database for every read below (the default sees each statement's own)
                s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return StoredState(orders=self._orders(s, None), fills=self._fills(s, None),
                               fill_keys=self._fill_keys(s), balances=self._balances(s),
                               snapshots=self._snapshots(s, None))

    # -- queries inside a given session --------------------------------------------------------------------
    def _orders(self, s: Session, condition: ColumnElement[bool] | None) -> list[Order]:
        query = select(ORDERS).where(ORDERS.c.account == self.account)
        if condition is not None:
            query = query.where(condition)
        query = query.order_by(ORDERS.c.created_ts, ORDERS.c.client_id)
        return [_order_from_row(row) for row in s.execute(query)]

    def _fills(self, s: Session, client_id: str | None) -> list[Fill]:
        query = select(FILLS).where(FILLS.c.account == self.account)
        if client_id is not None:
            query = query.where(FILLS.c.client_id == client_id)
        return [_fill_from_row(row) for row in s.execute(query.order_by(FILLS.c.seq))]

    def _fill_keys(self, s: Session) -> set[str]:
        return set(s.scalars(select(FILLS.c.key).where(FILLS.c.account == self.account)))

    def _balances(self, s: Session) -> dict[str, Decimal]:
        rows = s.execute(select(BALANCES.c.asset, BALANCES.c.amount)
                         .where(BALANCES.c.account == self.account).order_by(BALANCES.c.asset))
        return {asset: amount for asset, amount in rows}

    def _snapshots(self, s: Session, name: str | None) -> dict[str, dict[str, Any]]:
        query = select(SNAPSHOTS.c.name, SNAPSHOTS.c.data).where(SNAPSHOTS.c.account == self.account)
        if name is not None:
            query = query.where(SNAPSHOTS.c.name == name)
        return {row.name: self._decode(row.name, row.data) for row in s.execute(query)}

    def _decode(self, name: str, data: str) -> dict[str, Any]:
        try:
            return decode_snapshot(data)
        except ValueError as exc:
            raise StoredStateError(f"account {self.account}: stored snapshot {name!r} is not valid JSON: "
                                   f"{exc}") from None
