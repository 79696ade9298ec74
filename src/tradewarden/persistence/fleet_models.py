"""The fleet registry: which exchanges exist, who trades on them, and the instances that serve them.

``exchanges`` and ``user_exchanges`` are configuration an operator writes (``tradewarden exchanges``,
``users``, ``accounts``, or the dashboard's exchange form); ``user_exchanges`` names the environment variables
that hold an account's key and secret, never the secrets themselves. ``instances`` is written by the instance
processes (state, heartbeat, warm-up progress) and by operators and the agent (desired state);
``instance_events`` keeps every lifecycle transition with its time and reason (the dashboard's activity feed);
``harness_results`` keeps each ``tradewarden harness`` run. Timestamps are integer milliseconds UTC.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradewarden.persistence.models import Base


class ExchangeRow(Base):
    """An exchange the fleet can serve. ``rest_url``/``ws_url`` override ccxt's (testnets, the simulator)."""

    __tablename__ = "exchanges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    ccxt_id: Mapped[str] = mapped_column(String(64), nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    rest_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    ws_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class UserRow(Base):
    """An operator who owns exchange accounts."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)


class UserExchangeRow(Base):
    """A user's account on an exchange: the names of the environment variables holding its key and secret."""

    __tablename__ = "user_exchanges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"), nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    api_key_env: Mapped[str | None] = mapped_column(String(200), nullable=True)
    api_secret_env: Mapped[str | None] = mapped_column(String(200), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (UniqueConstraint("user_id", "exchange_id", "display_name", name="uq_user_exchanges_name"),)


class InstanceRow(Base):
    """One instance: what it serves, where it runs, its lifecycle state and the state an operator wants.

    ``progress_*`` is the warm-up progress (symbols and candles done of total) an instance publishes while
    ``warming``; ``symbols``/``timeframes`` are JSON lists; ``host`` is the machine whose agent runs it.
    """

    __tablename__ = "instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"), nullable=False)
    user_exchange_id: Mapped[int | None] = mapped_column(ForeignKey("user_exchanges.id"), nullable=True)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    host: Mapped[str] = mapped_column(String(200), nullable=False)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    desired_state: Mapped[str] = mapped_column(String(16), nullable=False)
    symbols: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    timeframes: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    progress_symbols_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    progress_symbols_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    progress_candles_done: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    progress_candles_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    last_heartbeat_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    state_since_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (Index("ix_instances_host", "host"), Index("ix_instances_exchange", "exchange_id"))


class InstanceEventRow(Base):
    """One lifecycle transition (or desired-state change) of an instance, with its time and reason."""

    __tablename__ = "instance_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)      # transition | desired | note
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    actor: Mapped[str] = mapped_column(String(200), nullable=False, default="")

    __table_args__ = (Index("ix_instance_events_instance_ts", "instance_id", "ts"),)


class HarnessResultRow(Base):
    """One ``tradewarden harness`` test outcome: when, which exchange, which test, counts and PASS/FAIL."""

    __tablename__ = "harness_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchanges.id"), nullable=False)
    test: Mapped[str] = mapped_column(String(64), nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    counts: Mapped[str] = mapped_column(Text, nullable=False, default="{}")   # JSON object

    __table_args__ = (Index("ix_harness_results_exchange_ts", "exchange_id", "ts"),)
