"""The fleet's endpoints under ``/api/v1/fleet`` (the dashboard's Network page reads them every second): the
registry's exchanges, accounts and instances, the activity feed of instance events, the newest harness run per
exchange; and the operator's writes: Connect and Stop (the desired state an instance's agent follows) and the
exchange setup form (an account: user, exchange, display name, the *names* of its key variables).

Every read and write goes through ``persistence.fleet_repo`` and ``persistence.instance_repo``; heartbeat ages
are measured on the database's clock, the clock the instances write their heartbeats with. Writes need an
operator token (and, with the dashboard's session cookie, the CSRF header), as every write of the API; the
actor recorded is ``api:<token name>``. A refused request is one line (``fleet_views.one_message``, app-wide:
see ``app.create_app``).
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations (see app.py).
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from sqlalchemy.exc import IntegrityError

from tradewarden.api.fleet_views import (
    ENV_FIELDS,
    AccountBody,
    AccountChange,
    ReasonBody,
    Redactor,
    account_json,
    event_json,
    exchange_json,
    harness_json,
    instance_json,
    same_variable,
)
from tradewarden.api.security import Caller, Guard, require_operator
from tradewarden.domain.instances import DesiredState
from tradewarden.persistence import Database
from tradewarden.persistence import fleet_repo as registry
from tradewarden.persistence import instance_repo as instances

MAX_EVENTS = 1000
HARNESS_ROWS = 100     # outcomes read per exchange to find its newest run (a run has a handful of tests)
IdPath = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


def router(db: Database, guard: Guard, clock: Callable[[], int] | None = None,
           stale_ms: int = registry.STALE_MS) -> APIRouter:
    """The fleet endpoints over ``db``; ``clock`` (ms) replaces the database's clock (tests); a running instance
    whose heartbeat is older than ``stale_ms`` (``fleet.stale_s``, as the agent judges it) shows as lost."""
    r = APIRouter(prefix="/api/v1/fleet")
    CallerDep = Annotated[Caller, Depends(guard.caller)]

    def operator(caller: CallerDep, request: Request) -> Caller:
        require_operator(caller, request)
        return caller

    OperatorDep = Annotated[Caller, Depends(operator)]

    def now() -> int:
        return clock() if clock is not None else registry.db_now_ms(db)

    def refused(exc: registry.RegistryError) -> HTTPException:
        return HTTPException(422, str(exc))

    def one_instance(instance_id: int) -> dict[str, Any]:
        try:
            found = instances.get_instance(db, instance_id)
        except registry.RegistryError as exc:
            raise HTTPException(404, str(exc)) from None
        accounts = registry.list_accounts(db)
        names = {a.id: a.display_name for a in accounts}
        return instance_json(found, now(), names.get(found.user_exchange_id or 0), Redactor(accounts), stale_ms)

    @r.get("/exchanges", tags=["fleet"])
    def exchanges(_: CallerDep) -> list[dict[str, Any]]:
        """The registry's exchanges (URLs with any user information masked)."""
        return [exchange_json(e) for e in registry.list_exchanges(db)]

    @r.get("/instances", tags=["fleet"])
    def list_instances(_: CallerDep) -> dict[str, Any]:
        """Every instance: state as stored and as shown (``lost`` when running with a stale heartbeat),
        desired state, heartbeat age (ms, database clock), symbols, timeframes, warm-up progress, last error."""
        accounts = registry.list_accounts(db)
        names = {a.id: a.display_name for a in accounts}
        redact, at = Redactor(accounts), now()
        return {"now": at, "stale_ms": stale_ms,
                "instances": [instance_json(i, at, names.get(i.user_exchange_id or 0), redact, stale_ms)
                              for i in instances.list_instances(db)]}

    @r.get("/instances/{instance_id}", tags=["fleet"])
    def get_instance(instance_id: IdPath, _: CallerDep) -> dict[str, Any]:
        return one_instance(instance_id)

    @r.get("/events", tags=["fleet"])
    def events(_: CallerDep, after: Annotated[int, Query(ge=0, le=2**62)] = 0,
               limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 100,
               instance: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> dict[str, Any]:
        """The activity feed: the newest ``limit`` instance events with an id above ``after`` (of one instance,
        or all), oldest first; ``next`` is the ``after`` of the following poll."""
        page = instances.instance_events(db, instance_id=instance, after_id=after, limit=limit)
        known = {i.id: i for i in instances.list_instances(db)}
        redact = Redactor(registry.list_accounts(db))
        return {"events": [event_json(e, known.get(e.instance_id), redact) for e in page],
                "next": page[-1].id if page else after}

    @r.get("/harness", tags=["fleet"])
    def harness(_: CallerDep) -> list[dict[str, Any]]:
        """Per exchange, its newest ``tradewarden harness`` run: when, each test with counts, all passed."""
        redact = Redactor(registry.list_accounts(db))
        out = []
        for e in registry.list_exchanges(db):
            run = harness_json(e.slug, instances.harness_results(db, exchange=e.slug, limit=HARNESS_ROWS), redact)
            if run is not None:
                out.append(run)
        return out

    @r.get("/users", tags=["fleet"])
    def users(_: CallerDep) -> list[dict[str, Any]]:
        """The users accounts belong to (``tradewarden users add``)."""
        return [{"id": u.id, "name": u.name} for u in registry.list_users(db)]

    @r.get("/accounts", tags=["fleet"])
    def accounts(_: CallerDep) -> list[dict[str, Any]]:
        """Every account (user_exchange) with the names of its key variables, never their values."""
        return [account_json(a) for a in registry.list_accounts(db)]

    # -- writes -------------------------------------------------------------------------------------------
    def desire(instance_id: int, desired: DesiredState, body: ReasonBody | None, caller: Caller,
               button: str) -> dict[str, Any]:
        reason = body.reason if body is not None and body.reason else f"{button} from the API"
        try:
            instances.set_desired(db, instance_id, desired, actor=f"api:{caller.token}", reason=reason)
        except registry.RegistryError as exc:
            raise HTTPException(404, str(exc)) from None
        return one_instance(instance_id)

    @r.post("/instances/{instance_id}/connect", tags=["fleet-write"])
    def connect(instance_id: IdPath, caller: OperatorDep, body: ReasonBody | None = None) -> dict[str, Any]:
        """Connect: desired state ``running``; the agent on the instance's host starts it."""
        return desire(instance_id, DesiredState.RUNNING, body, caller, "Connect")

    @r.post("/instances/{instance_id}/stop", tags=["fleet-write"])
    def stop(instance_id: IdPath, caller: OperatorDep, body: ReasonBody | None = None) -> dict[str, Any]:
        """Stop: desired state ``stopped``; the agent stops the instance."""
        return desire(instance_id, DesiredState.STOPPED, body, caller, "Stop")

    @r.post("/accounts", tags=["fleet-write"], status_code=201)
    def add_account(body: AccountBody, _: OperatorDep) -> dict[str, Any]:
        """Set up an account (user_exchange): user, exchange slug, display name, key and secret variable names
        (empty: none), active, default (one default per user and exchange)."""
        if same_variable(body.api_key_env, body.api_secret_env):
            raise HTTPException(422, f"{' and '.join(ENV_FIELDS)} name the same variable; the key and the secret "
                                     "live in two")
        try:
            made = registry.link_account(db, body.user, body.exchange, body.display_name,
                                         api_key_env=body.api_key_env or None,
                                         api_secret_env=body.api_secret_env or None, is_active=body.is_active,
                                         is_default=body.is_default)
        except registry.RegistryError as exc:
            raise refused(exc) from None
        return account_json(made)

    @r.put("/accounts/{account_id}", tags=["fleet-write"])
    def change_account(account_id: IdPath, body: AccountChange, _: OperatorDep) -> dict[str, Any]:
        """Change an account: the fields given (an empty variable name clears it); others stay."""
        current = {a.id: a for a in registry.list_accounts(db)}.get(account_id)
        if current is None:
            raise HTTPException(404, f"no account (user_exchange) with id {account_id}")
        key_env = current.api_key_env if body.api_key_env is None else body.api_key_env
        secret_env = current.api_secret_env if body.api_secret_env is None else body.api_secret_env
        if same_variable(key_env, secret_env):
            raise HTTPException(422, f"{' and '.join(ENV_FIELDS)} name the same variable; the key and the secret "
                                     "live in two")
        try:
            changed = registry.update_account(db, account_id, display_name=body.display_name,
                                              api_key_env=body.api_key_env, api_secret_env=body.api_secret_env,
                                              is_active=body.is_active, is_default=body.is_default)
        except registry.RegistryError as exc:
            raise refused(exc) from None
        except IntegrityError:  # the unique (user, exchange, display name)
            raise HTTPException(422, f"{current.user!r} already has an account named {body.display_name!r} on "
                                     f"{current.exchange!r}") from None
        return account_json(changed)

    return r
