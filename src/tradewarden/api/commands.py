"""Operator writes from the API, all through the database the bots poll, each an operator action.

The kill switch and a breaker reset go through the risk store exactly as the CLI's do (the bot applies them
and acknowledges the kill switch in ``kill_switch_acks``). Pausing entries, resuming, closing one symbol's
position (reduce-only, through the risk gate), reloading parameters and flattening a symbol (the emergency
stop's: every open order cancelled, the position closed) are rows in ``operator_requests``
(kinds below) that the node's command poll applies and marks handled; ``handled_ts``/``outcome`` are the
acknowledgement the API reports.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from tradewarden.persistence import Database
from tradewarden.persistence import risk_repo as repo
from tradewarden.persistence.models import OperatorRequest

PAUSE_ENTRIES = "pause_entries"
RESUME = "resume"
CLOSE_POSITION = "close_position"
RELOAD_PARAMS = "reload_params"
FLATTEN = "flatten"  # `tradewarden emergency-stop`: cancel every open order of the symbol and close its position
KINDS = (PAUSE_ENTRIES, RESUME, CLOSE_POSITION, RELOAD_PARAMS, FLATTEN)


def target_of(account: str) -> str:
    """What a request addressed to one bot holds in its ``target``: a digest of the bot's account (an account
    key may be longer than the column). Two bots on one database may trade one symbol: a close or a flatten is
    addressed, or both would take it."""
    return hashlib.sha256(account.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CommandState:
    id: int
    kind: str
    scope: str
    actor: str
    ts: int
    acknowledged: bool
    handled_ts: int | None
    outcome: str


def _state(r: OperatorRequest) -> CommandState:
    return CommandState(r.id, r.kind, r.scope, r.actor, r.ts, r.handled_ts is not None, r.handled_ts, r.outcome)


def request(db: Database, kind: str, scope: str, reason: str, actor: str, ts: int, target: str = "") -> CommandState:
    """Queue ``kind`` for the bots (``scope``: a symbol, or ``global``; ``target``: one bot's, see
    :func:`target_of`, or any) and record the operator action, in one transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown command {kind!r}")
    with db.session() as s:
        row = OperatorRequest(kind=kind, target=target, scope=scope, reason=reason, actor=actor, ts=ts)
        s.add(row)
        s.flush()
        detail = {"scope": scope, "reason": reason, "request": row.id} | ({"target": target} if target else {})
        repo.add_operator_action(s, kind, actor, json.dumps(detail, sort_keys=True), ts)
        return _state(row)


def get(db: Database, command_id: int) -> CommandState | None:
    with db.session() as s:
        row = s.get(OperatorRequest, command_id)
        return None if row is None else _state(row)
