"""The runtime's tables: orders, fills, balances and snapshots of one trading session scope.

Every row belongs to an ``account`` (a scope key such as ``paper:sim:BTC/USDT``), so several sessions can share a
database. Uniqueness is enforced by the database, not by the caller: an order row is keyed by its client order id
and a fill by its key, so a retry after a crash can never add a second order row or book a fill twice.
Timestamps are integer milliseconds UTC; amounts are exact text (:class:`DecimalText`).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradewarden.persistence.models import Base
from tradewarden.persistence.types import DecimalText

ACCOUNT_LEN = 128
CLIENT_ID_LEN = 100
FILL_KEY_LEN = 160
SNAPSHOT_NAME_LEN = 64


class RuntimeOrderRow(Base):
    """The latest known state of one order, written before it is sent and after every change."""

    __tablename__ = "runtime_orders"

    account: Mapped[str] = mapped_column(String(ACCOUNT_LEN), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(CLIENT_ID_LEN), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    qty: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    stop_price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    stop_loss: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    take_profit: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    reduce_only: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    # derived from status and kept in the row so "open orders of this account" is one index range
    is_open: Mapped[bool] = mapped_column(Boolean, nullable=False)
    filled_qty: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    exchange_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_LEN), nullable=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    updated_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (
        Index("ix_runtime_orders_open", "account", "is_open"),
        Index("ix_runtime_orders_exchange_id", "account", "exchange_id"),
    )


class RuntimeFillRow(Base):
    """One execution, stored once: ``key`` is the exchange's trade id or ``<client_id>#<n>`` for simulated fills.
    ``seq`` keeps the order in which fills were booked."""

    __tablename__ = "runtime_fills"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(ACCOUNT_LEN), nullable=False)
    key: Mapped[str] = mapped_column(String(FILL_KEY_LEN), nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    client_id: Mapped[str] = mapped_column(String(CLIENT_ID_LEN), nullable=False)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    qty: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    price: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    fee: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    fee_base: Mapped[Decimal] = mapped_column(DecimalText, nullable=False, server_default="0")
    liquidity: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)

    __table_args__ = (
        UniqueConstraint("account", "key", name="uq_runtime_fills_account_key"),
        Index("ix_runtime_fills_order", "account", "client_id"),
    )


class RuntimeBalanceRow(Base):
    """A paper account's balance of one asset (the whole set is replaced at each save)."""

    __tablename__ = "runtime_balances"

    account: Mapped[str] = mapped_column(String(ACCOUNT_LEN), primary_key=True)
    asset: Mapped[str] = mapped_column(String(32), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    updated_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class RuntimeSnapshotRow(Base):
    """A named JSON document (engine, venue, strategy state...). Stored as text, never as a JSON column type,
    so integers beyond 2**53 come back exactly (some drivers parse JSON numbers as floats)."""

    __tablename__ = "runtime_snapshots"

    account: Mapped[str] = mapped_column(String(ACCOUNT_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(SNAPSHOT_NAME_LEN), primary_key=True)
    data: Mapped[str] = mapped_column(Text, nullable=False)
    updated_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AccountLeaseRow(Base):
    """Who trades an exchange account (``account_key``: a hash of exchange id and API key) through this database:
    taken at start, renewed by a heartbeat, released at a clean stop; a holder that stopped renewing loses it
    at ``expires_ms`` (see :mod:`tradewarden.persistence.lease`)."""

    __tablename__ = "account_leases"

    account_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), nullable=False)   # this holding, unique per session start
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    boot_id: Mapped[str] = mapped_column(String(64), nullable=False)  # the host's boot: a reboot ended the holder
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    bot: Mapped[str] = mapped_column(String(255), nullable=False)
    since_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    heartbeat_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
