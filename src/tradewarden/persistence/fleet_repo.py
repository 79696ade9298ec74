"""Reading and writing the fleet registry (``fleet_models``): exchanges, users, accounts, instances.

Every write is one transaction. Lifecycle moves go through :func:`transition`, which checks the domain's
transition table and records the move in ``instance_events`` in the same transaction, so the activity feed
cannot miss one. Times come from the database server's clock on PostgreSQL, so instances on machines with
skewed clocks agree on heartbeat ages; on SQLite (one machine) from this machine's clock.
Bad operator input (an unknown slug, a duplicate) raises :class:`RegistryError` with one line naming it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tradewarden.domain.instances import (
    DesiredState,
    InstanceRole,
    InstanceState,
    shown_state,
)
from tradewarden.persistence.database import Database
from tradewarden.persistence.fleet_models import (
    ExchangeRow,
    UserExchangeRow,
    UserRow,
)

#: an instance writes its heartbeat this often
HEARTBEAT_MS = 2_000
#: a running instance whose heartbeat is older than this shows as lost
STALE_MS = 10_000


class RegistryError(ValueError):
    """Operator input the registry refuses (unknown exchange, duplicate slug...); the message names it."""


@dataclass(frozen=True, slots=True)
class ExchangeView:
    id: int
    slug: str
    ccxt_id: str
    display_name: str
    rest_url: str | None
    ws_url: str | None
    is_active: bool
    is_default: bool


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    name: str
    email: str | None


@dataclass(frozen=True, slots=True)
class AccountView:
    """A user_exchange: whose account on which exchange, and where its key and secret live (variable names)."""

    id: int
    user: str
    exchange: str
    display_name: str
    api_key_env: str | None
    api_secret_env: str | None
    is_active: bool
    is_default: bool


@dataclass(frozen=True, slots=True)
class WarmupProgress:
    symbols_done: int = 0
    symbols_total: int = 0
    candles_done: int = 0
    candles_total: int = 0

    @property
    def fraction(self) -> float:
        """Candles done of total (symbols when no candle total is known), 0..1."""
        if self.candles_total:
            return min(1.0, self.candles_done / self.candles_total)
        return min(1.0, self.symbols_done / self.symbols_total) if self.symbols_total else 0.0


@dataclass(frozen=True, slots=True)
class InstanceView:
    id: int
    exchange_id: int
    exchange: str
    user_exchange_id: int | None
    role: InstanceRole
    host: str
    pid: int | None
    state: InstanceState
    desired: DesiredState
    symbols: tuple[str, ...]
    timeframes: tuple[str, ...]
    progress: WarmupProgress
    last_heartbeat_ms: int | None
    last_error: str | None
    started_ms: int | None
    state_since_ms: int

    def shown(self, now_ms: int, stale_ms: int = STALE_MS) -> str:
        """The state to show: ``lost`` when running with a stale heartbeat (see the domain)."""
        return shown_state(self.state, self.last_heartbeat_ms, now_ms, stale_ms)


@dataclass(frozen=True, slots=True)
class InstanceEventView:
    id: int
    instance_id: int
    ts: int
    kind: str
    from_state: str | None
    to_state: str | None
    reason: str
    actor: str


@dataclass(frozen=True, slots=True)
class HarnessOutcome:
    """One harness test's result as stored."""

    test: str
    passed: bool
    detail: str
    counts: dict[str, int]


# -- clock ---------------------------------------------------------------------------------------------
def now_ms(session: Session) -> int:
    """The database server's clock on PostgreSQL, this machine's elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return int(session.execute(text(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")).scalar_one())
    return int(time.time() * 1000)


def db_now_ms(db: Database) -> int:
    with db.session() as s:
        return now_ms(s)


# -- exchanges -----------------------------------------------------------------------------------------
def _exchange_view(r: ExchangeRow) -> ExchangeView:
    return ExchangeView(r.id, r.slug, r.ccxt_id, r.display_name, r.rest_url, r.ws_url, r.is_active, r.is_default)


def exchange_row(s: Session, slug: str) -> ExchangeRow:
    row = s.scalars(select(ExchangeRow).where(ExchangeRow.slug == slug)).one_or_none()
    if row is None:
        known = ", ".join(s.scalars(select(ExchangeRow.slug).order_by(ExchangeRow.slug))) or "none"
        raise RegistryError(f"exchange {slug!r} not found in the registry (known: {known}); "
                            f"add it with `tradewarden exchanges add {slug} --ccxt-id ID`")
    return row


def _clear_default_exchange(s: Session, keep_id: int) -> None:
    for other in s.scalars(select(ExchangeRow).where(ExchangeRow.is_default.is_(True), ExchangeRow.id != keep_id)):
        other.is_default = False


def _clear_default_account(s: Session, row: UserExchangeRow) -> None:
    """One default account per user and exchange."""
    for other in s.scalars(select(UserExchangeRow).where(
            UserExchangeRow.is_default.is_(True), UserExchangeRow.id != row.id,
            UserExchangeRow.user_id == row.user_id, UserExchangeRow.exchange_id == row.exchange_id)):
        other.is_default = False


def add_exchange(db: Database, slug: str, ccxt_id: str, *, display_name: str | None = None,
                 rest_url: str | None = None, ws_url: str | None = None, is_active: bool = True,
                 is_default: bool = False) -> ExchangeView:
    with db.session() as s:
        if s.scalars(select(ExchangeRow.id).where(ExchangeRow.slug == slug)).first() is not None:
            raise RegistryError(f"exchange {slug!r} is already in the registry; change it with "
                                f"`tradewarden exchanges update {slug}`")
        row = ExchangeRow(slug=slug, ccxt_id=ccxt_id, display_name=display_name or slug, rest_url=rest_url,
                          ws_url=ws_url, is_active=is_active, is_default=is_default)
        s.add(row)
        s.flush()
        if is_default:
            _clear_default_exchange(s, row.id)
        return _exchange_view(row)


def update_exchange(db: Database, slug: str, *, ccxt_id: str | None = None, display_name: str | None = None,
                    rest_url: str | None = None, ws_url: str | None = None, is_active: bool | None = None,
                    is_default: bool | None = None) -> ExchangeView:
    """Change the given fields (None: unchanged; an empty URL clears the override)."""
    with db.session() as s:
        row = exchange_row(s, slug)
        if ccxt_id is not None:
            row.ccxt_id = ccxt_id
        if display_name is not None:
            row.display_name = display_name
        if rest_url is not None:
            row.rest_url = rest_url or None
        if ws_url is not None:
            row.ws_url = ws_url or None
        if is_active is not None:
            row.is_active = is_active
        if is_default is not None:
            row.is_default = is_default
            if is_default:
                _clear_default_exchange(s, row.id)
        return _exchange_view(row)


def get_exchange(db: Database, slug: str) -> ExchangeView:
    with db.session() as s:
        return _exchange_view(exchange_row(s, slug))


def exchange_by_id(db: Database, exchange_id: int) -> ExchangeView:
    with db.session() as s:
        row = s.get(ExchangeRow, exchange_id)
        if row is None:
            raise RegistryError(f"no exchange with id {exchange_id} in the registry")
        return _exchange_view(row)


def list_exchanges(db: Database) -> list[ExchangeView]:
    with db.session() as s:
        return [_exchange_view(r) for r in s.scalars(select(ExchangeRow).order_by(ExchangeRow.id))]


# -- users and accounts --------------------------------------------------------------------------------
def add_user(db: Database, name: str, email: str | None = None) -> UserView:
    try:
        with db.session() as s:
            row = UserRow(name=name, email=email, created_ms=now_ms(s))
            s.add(row)
            s.flush()
            return UserView(row.id, row.name, row.email)
    except IntegrityError:
        raise RegistryError(f"user {name!r} already exists") from None


def list_users(db: Database) -> list[UserView]:
    with db.session() as s:
        return [UserView(r.id, r.name, r.email) for r in s.scalars(select(UserRow).order_by(UserRow.id))]


def _account_view(s: Session, r: UserExchangeRow) -> AccountView:
    user = s.get(UserRow, r.user_id)
    exchange = s.get(ExchangeRow, r.exchange_id)
    return AccountView(r.id, user.name if user else "?", exchange.slug if exchange else "?", r.display_name,
                       r.api_key_env, r.api_secret_env, r.is_active, r.is_default)


def link_account(db: Database, user: str, exchange: str, display_name: str, *, api_key_env: str | None = None,
                 api_secret_env: str | None = None, is_active: bool = True,
                 is_default: bool = False) -> AccountView:
    """Link ``user`` to ``exchange`` as an account (a user_exchange) named ``display_name``."""
    try:
        with db.session() as s:
            owner = s.scalars(select(UserRow).where(UserRow.name == user)).one_or_none()
            if owner is None:
                raise RegistryError(f"user {user!r} not found; add it with `tradewarden users add {user}`")
            row = UserExchangeRow(user_id=owner.id, exchange_id=exchange_row(s, exchange).id,
                                  display_name=display_name, api_key_env=api_key_env,
                                  api_secret_env=api_secret_env, is_active=is_active, is_default=is_default)
            s.add(row)
            s.flush()
            if is_default:
                _clear_default_account(s, row)
            return _account_view(s, row)
    except IntegrityError:
        raise RegistryError(f"{user!r} already has an account named {display_name!r} on {exchange!r}") from None


def update_account(db: Database, account_id: int, *, display_name: str | None = None,
                   api_key_env: str | None = None, api_secret_env: str | None = None,
                   is_active: bool | None = None, is_default: bool | None = None) -> AccountView:
    with db.session() as s:
        row = s.get(UserExchangeRow, account_id)
        if row is None:
            raise RegistryError(f"no account (user_exchange) with id {account_id}")
        if display_name is not None:
            row.display_name = display_name
        if api_key_env is not None:
            row.api_key_env = api_key_env or None
        if api_secret_env is not None:
            row.api_secret_env = api_secret_env or None
        if is_active is not None:
            row.is_active = is_active
        if is_default is not None:
            row.is_default = is_default
            if is_default:
                _clear_default_account(s, row)
        return _account_view(s, row)


def list_accounts(db: Database) -> list[AccountView]:
    with db.session() as s:
        return [_account_view(s, r) for r in s.scalars(select(UserExchangeRow).order_by(UserExchangeRow.id))]
