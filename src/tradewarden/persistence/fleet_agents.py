"""Where the fleet's agents show in the registry: one lease per host in ``account_leases``.

An agent (``tradewarden agent``) holds the lease ``agent:{host}`` while it runs (see
:mod:`tradewarden.persistence.lease`): that keeps a second agent off the same host, and the lease row (holder
pid, since, last renewal, expiry) is the agent's presence, so no table of its own is needed. An agent whose
lease expired is gone (it renews every few seconds while it lives).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select

from tradewarden.persistence.database import Database
from tradewarden.persistence.fleet_repo import now_ms
from tradewarden.persistence.runtime_models import AccountLeaseRow

AGENT_KEY_PREFIX = "agent:"
_LEASES = cast(Table, AccountLeaseRow.__table__)
_KEY_LENGTH = 64  # account_leases.account_key


def agent_lease_key(host: str) -> str:
    """The lease key of ``host``'s agent; a host name too long for the key column is hashed (the row keeps it)."""
    key = AGENT_KEY_PREFIX + host
    if len(key) <= _KEY_LENGTH:
        return key
    return AGENT_KEY_PREFIX + "sha256:" + hashlib.sha256(host.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class AgentView:
    host: str
    pid: int
    since_ms: int
    heartbeat_ms: int
    expires_ms: int
    alive: bool  # its lease had not expired when read


def list_agents(db: Database) -> list[AgentView]:
    """Every agent that holds (or held, until another takes it or it is released) a host's lease."""
    with db.session() as s:
        now = now_ms(s)
        rows = s.execute(select(_LEASES).where(_LEASES.c.account_key.startswith(AGENT_KEY_PREFIX))
                         .order_by(_LEASES.c.host)).all()
    return [AgentView(r.host, r.pid, r.since_ms, r.heartbeat_ms, r.expires_ms, r.expires_ms > now) for r in rows]


def agents_by_host(db: Database) -> dict[str, AgentView]:
    return {a.host: a for a in list_agents(db)}
