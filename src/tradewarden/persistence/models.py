"""The tables. Timestamps are integer milliseconds UTC (as everywhere in tradewarden); amounts are exact text.

Scopes name what a row applies to: ``global`` for the whole bot, otherwise a symbol such as ``BTC/USDT``.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tradewarden.persistence.types import DecimalText


class Base(DeclarativeBase):
    """Declarative base of every tradewarden table (Alembic compares against its metadata)."""


class KillSwitchEvent(Base):
    """Every activation and deactivation of the kill switch; the newest row is the current state."""

    __tablename__ = "kill_switch_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    actor: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class BreakerRow(Base):
    """A circuit breaker's state in one scope."""

    __tablename__ = "risk_breakers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    tripped: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tripped_ts: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reset_after_ts: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CounterRow(Base):
    """A named number in a scope: start-of-day equity, equity peak, loss streak, denials per reason..."""

    __tablename__ = "risk_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    updated_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CooldownRow(Base):
    """No new entries in this scope before ``until_ts``."""

    __tablename__ = "risk_cooldowns"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    until_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")


class TradingStateRow(Base):
    """The last trading state announced for a scope, with why."""

    __tablename__ = "trading_states"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    changed_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class StageProgressRow(Base):
    """What a ramp-up stage has achieved so far: the figures its advancement criteria are judged on."""

    __tablename__ = "stage_progress"

    stage: Mapped[str] = mapped_column(String(64), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    first_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    trades: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    losing_trades: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pnl: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    largest_loss: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    peak_equity: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    max_drawdown_pct: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)


class OperatorRequest(Base):
    """A request from an operator (CLI, another process) that the running bot carries out when it polls,
    e.g. resetting a circuit breaker. ``handled_ts`` is set once done."""

    __tablename__ = "operator_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    target: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    scope: Mapped[str] = mapped_column(String(64), nullable=False, default="global")
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    actor: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    handled_ts: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_operator_requests_pending", "handled_ts"),)
    outcome: Mapped[str] = mapped_column(Text, nullable=False, default="")


class KillSwitchAck(Base):
    """A running bot applied a kill switch event: which bot (account, host, pid) and when."""

    __tablename__ = "kill_switch_acks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(Integer, nullable=False)
    bot: Mapped[str] = mapped_column(String(300), nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (Index("ix_kill_switch_acks_event", "event_id"),)


class AuditHeadRow(Base):
    """Where an account's audit trail ends: its file, record count and last hash (what the file must still
    hold), and the last operator action copied into it."""

    __tablename__ = "audit_heads"

    account: Mapped[str] = mapped_column(String(200), primary_key=True)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    actions_seen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class OperatorActionRow(Base):
    """Something an operator did (kill switch on/off, breaker reset, parameter apply, ...), with who; each
    running bot copies it into its audit trail. ``detail`` is JSON."""

    __tablename__ = "operator_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)


# The runtime's tables share Base; importing them here keeps Base.metadata complete for Alembic and for tests.
from tradewarden.persistence import fleet_models as _fleet_models  # noqa: E402, F401
from tradewarden.persistence import ops_models as _ops_models  # noqa: E402, F401
from tradewarden.persistence import runtime_models as _runtime_models  # noqa: E402, F401
