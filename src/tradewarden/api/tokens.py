"""API tokens: a random 32-byte secret shown once, stored only as its sha256, with a name and a role.

``viewer`` reads; ``operator`` reads and acts (kill switch, pause, resume, close a position, reload, reset a
breaker). A revoked token stays listed (who had access when) but no longer opens anything.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from tradewarden.persistence import Database
from tradewarden.persistence.ops_models import ApiTokenRow

PREFIX = "tw_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"


class TokenError(ValueError):
    """A token name that is taken, unknown or malformed."""


@dataclass(frozen=True)
class TokenInfo:
    name: str
    role: Role
    created: int
    revoked: int | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(db: Database, name: str, role: Role, now: int) -> str:
    """A new token named ``name``; returns its secret, which is stored nowhere."""
    if not _NAME.match(name):
        raise TokenError(f"token name {name!r}: use letters, digits and . _ @ - (at most 100)")
    secret = PREFIX + secrets.token_urlsafe(32)
    with db.session() as s:
        if s.get(ApiTokenRow, name) is not None:
            raise TokenError(f"a token named {name!r} exists already (revoke it, or choose another name)")
        s.add(ApiTokenRow(name=name, role=role.value, digest=digest(secret), created=now, revoked=None))
    return secret


def list_tokens(db: Database) -> list[TokenInfo]:
    with db.session() as s:
        return [TokenInfo(r.name, Role(r.role), r.created, r.revoked)
                for r in s.scalars(select(ApiTokenRow).order_by(ApiTokenRow.created, ApiTokenRow.name))]


def revoke(db: Database, name: str, now: int) -> None:
    with db.session() as s:
        row = s.get(ApiTokenRow, name)
        if row is None:
            raise TokenError(f"no token named {name!r}")
        if row.revoked is None:
            row.revoked = now


def any_active(db: Database) -> bool:
    with db.session() as s:
        return s.scalar(select(ApiTokenRow.name).where(ApiTokenRow.revoked.is_(None)).limit(1)) is not None


def verify(db: Database, secret: str) -> TokenInfo | None:
    """The active token whose secret this is, or None. The stored digest is compared in constant time."""
    return by_digest(db, digest(secret))


def by_digest(db: Database, wanted: str) -> TokenInfo | None:
    with db.session() as s:
        row = s.scalar(select(ApiTokenRow).where(ApiTokenRow.digest == wanted))
        if row is None or not hmac.compare_digest(row.digest, wanted) or row.revoked is not None:
            return None
        return TokenInfo(row.name, Role(row.role), row.created, row.revoked)
