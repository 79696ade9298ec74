"""The operations read model: what each running bot publishes for ``status``, the API and the dashboard.

Written only by a bot's publisher thread (``tradewarden.api.publish``), never on the trading path; read by
``tradewarden status`` and ``tradewarden serve``. ``api_tokens`` holds the API's tokens, hashed.
Timestamps are integer milliseconds UTC; amounts exact text.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tradewarden.persistence.models import Base
from tradewarden.persistence.types import DecimalText


class BotRow(Base):
    """One bot process: who, where, what it trades, and its heartbeat. ``state`` is ``running`` or
    ``stopped`` as the bot wrote it; a reader turns a stale heartbeat into ``lost``."""

    __tablename__ = "bots"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    account: Mapped[str] = mapped_column(String(200), nullable=False)
    host: Mapped[str] = mapped_column(String(200), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    symbols: Mapped[str] = mapped_column(Text, nullable=False)          # JSON list
    strategy: Mapped[str] = mapped_column(String(200), nullable=False)
    timeframe_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    config_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    heartbeat_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    started: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_heartbeat: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_candle: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    candle_seen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # wall time the newest arrived
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    stopped: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class BotEventRow(Base):
    """An event a bot emitted, as its events.jsonl line holds it (scrubbed)."""

    __tablename__ = "bot_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bot: Mapped[str] = mapped_column(String(300), nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    json: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (Index("ix_bot_events_bot_ts", "bot", "ts"), Index("ix_bot_events_type", "type"))


class BotPositionRow(Base):
    """A bot's position in one symbol: signed quantity, average entry, last mark, realized PnL (total and on
    ``today``, a UTC day number)."""

    __tablename__ = "bot_positions"

    bot: Mapped[str] = mapped_column(String(300), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(64), primary_key=True)
    qty: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    entry_price: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    mark: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    realized: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    realized_today: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    today: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class BotOpenOrderRow(Base):
    """An order of a bot that is still open."""

    __tablename__ = "bot_open_orders"

    bot: Mapped[str] = mapped_column(String(300), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    order_type: Mapped[str] = mapped_column(String(32), nullable=False)
    qty: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    price: Mapped[Decimal | None] = mapped_column(DecimalText, nullable=True)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class BotBalanceRow(Base):
    """A bot's balance in one asset."""

    __tablename__ = "bot_balances"

    bot: Mapped[str] = mapped_column(String(300), primary_key=True)
    asset: Mapped[str] = mapped_column(String(32), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class BotEquityRow(Base):
    """An equity sample (one per candle): the primary key (bot, ts) is the index a time range reads."""

    __tablename__ = "bot_equity"

    bot: Mapped[str] = mapped_column(String(300), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    equity: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)
    pnl: Mapped[Decimal] = mapped_column(DecimalText, nullable=False)


class ApiTokenRow(Base):
    """An API token: its name, role and the sha256 of its secret (never the secret itself)."""

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created: Mapped[int] = mapped_column(BigInteger, nullable=False)
    revoked: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
