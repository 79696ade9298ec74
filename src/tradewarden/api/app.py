"""The HTTP API (FastAPI) that ``tradewarden serve`` runs: reads of the read model and risk state, operator
writes through the database, a live event stream (SSE). docs/OPERATIONS.md lists the endpoints.

Amounts are JSON strings (exact decimals). A bot is addressed by its ``key`` (from ``GET /api/v1/bots``), a
short hash of its id, since the id holds slashes and spaces. No CORS headers are sent: a page from another
origin cannot read the API.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations, and those name aliases
# local to create_app (CallerDep, OperatorDep), which only eager evaluation can resolve.
import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from tradewarden.api import commands, dashboard, fleet
from tradewarden.api import readmodel as rm
from tradewarden.api.fleet_views import one_message
from tradewarden.api.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_S,
    Caller,
    FailureLimiter,
    Guard,
    Sessions,
    require_operator,
)
from tradewarden.api.status import _jsonable, bot_status, risk_status
from tradewarden.persistence import Database
from tradewarden.persistence.fleet_repo import STALE_MS
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.risk.store import RiskStateStore

MAX_PAGE = 1000
# How often an idle stream looks for new events: the dashboard promises an event on screen within 200 ms of the
# bot emitting it (benchmarks/sse_latency.py measures it); one indexed query per open stream per poll.
STREAM_POLL_S = 0.05
_Text = Annotated[str, Field(max_length=500)]


class LoginBody(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=200)]


class KillSwitchBody(BaseModel):
    active: bool
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class CommandBody(BaseModel):
    reason: _Text = ""
    symbol: Annotated[str | None, Field(max_length=64)] = None


class CloseBody(BaseModel):
    symbol: Annotated[str, Field(min_length=1, max_length=64)]
    reason: _Text = ""
    # the bot's key (GET /api/v1/bots); may be left out when exactly one bot trades the symbol
    bot: Annotated[str | None, Field(min_length=1, max_length=64)] = None


class BreakerBody(BaseModel):
    breaker: Annotated[str, Field(min_length=1, max_length=64)]
    scope: Annotated[str, Field(min_length=1, max_length=64)] = "global"
    reason: _Text = ""


def bot_key(bot_id: str) -> str:
    return hashlib.sha256(bot_id.encode()).hexdigest()[:16]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def one_line_refusal(_: Request, exc: Exception) -> Response:
    """A request that fails validation, on every route: one line naming the field and the problem, like every
    other refusal of the API. FastAPI's own answer is a list that echoes the value sent, and a user may have
    pasted a key or a password into the wrong field."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": one_message(errors)}, status_code=422)


def create_app(db: Database, data_dir: Path, clock: Callable[[], int] = now_ms,
               limiter: FailureLimiter | None = None, runs_dir: Path | None = None,
               fleet_clock: Callable[[], int] | None = None, fleet_stale_ms: int = STALE_MS) -> FastAPI:
    """The application over ``db`` (the bots' database; ``data_dir`` holds their audit trails), with the
    dashboard at ``/`` showing the reports under ``runs_dir`` (default ``runs``, as the backtest writes).
    The fleet's heartbeat ages are measured on the database's clock unless ``fleet_clock`` is given (tests); an
    instance whose heartbeat is older than ``fleet_stale_ms`` (``fleet.stale_s``) shows as lost."""
    store = RiskStateStore(db)
    guard = Guard(db, limiter if limiter is not None else FailureLimiter(), Sessions())
    app = FastAPI(title="tradewarden", version="1", docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.add_exception_handler(RequestValidationError, one_line_refusal)
    v1 = APIRouter(prefix="/api/v1")
    CallerDep = Annotated[Caller, Depends(guard.caller)]

    def operator(caller: CallerDep, request: Request) -> Caller:
        require_operator(caller, request)
        return caller

    OperatorDep = Annotated[Caller, Depends(operator)]

    def find_bot(key: str) -> rm.BotView:
        with db.session() as s:
            for b in rm.bots(s, clock()):
                if bot_key(b.id) == key:
                    return b
        raise HTTPException(404, f"no bot with key {key!r}")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(_: CallerDep) -> dict[str, str]:
        try:
            with db.session() as s:
                s.execute(text("SELECT 1"))
        except Exception:
            raise HTTPException(503, "database unreachable") from None
        return {"status": "ready"}

    @v1.post("/login", tags=["auth"])
    def login(body: LoginBody, request: Request, response: Response) -> dict[str, str]:
        info, sid, csrf = guard.login(request, body.token)
        response.set_cookie(SESSION_COOKIE, sid, max_age=SESSION_S, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        response.set_cookie(CSRF_COOKIE, csrf, max_age=SESSION_S, httponly=False, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return {"token": info.name, "role": info.role.value, "csrf": csrf}

    @v1.get("/bots", tags=["read"])
    def bots(_: CallerDep) -> list[dict[str, Any]]:
        with db.session() as s:
            return [{"key": bot_key(b.id), **_jsonable(asdict(b))} for b in rm.bots(s, clock())]

    @v1.get("/bots/{key}", tags=["read"])
    def bot(key: str, _: CallerDep) -> dict[str, Any]:
        found = bot_status(store, find_bot(key), clock())
        return {"key": key, **_jsonable(asdict(found))}

    @v1.get("/bots/{key}/positions", tags=["read"])
    def positions(key: str, _: CallerDep) -> list[dict[str, Any]]:
        b = find_bot(key)
        with db.session() as s:
            return [_jsonable(asdict(p)) for p in rm.positions(s, b.id, clock())]

    @v1.get("/bots/{key}/orders", tags=["read"])
    def orders(key: str, _: CallerDep) -> list[dict[str, Any]]:
        b = find_bot(key)
        with db.session() as s:
            return [_jsonable(asdict(o)) for o in rm.open_orders(s, b.id)]

    @v1.get("/bots/{key}/balances", tags=["read"])
    def balances(key: str, _: CallerDep) -> dict[str, str]:
        b = find_bot(key)
        with db.session() as s:
            return {k: str(v) for k, v in rm.balances(s, b.id).items()}

    @v1.get("/bots/{key}/trades", tags=["read"])
    def trades(key: str, _: CallerDep) -> list[dict[str, Any]]:
        fills = RuntimeStore(db, find_bot(key).account).fills()
        return [{"client_id": f.client_id, "symbol": f.symbol, "side": f.side.value, "qty": str(f.qty),
                 "price": str(f.price), "fee": str(f.fee), "ts": f.ts} for f in fills]

    @v1.get("/bots/{key}/equity", tags=["read"])
    def equity(key: str, _: CallerDep, start: Annotated[int | None, Query(ge=0, le=2**62)] = None,
               end: Annotated[int | None, Query(ge=0, le=2**62)] = None,
               limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> list[dict[str, Any]]:
        b = find_bot(key)
        with db.session() as s:
            return [_jsonable(asdict(p)) for p in rm.equity(s, b.id, start, end, limit)]

    @v1.get("/bots/{key}/events", tags=["read"])
    def events(key: str, _: CallerDep, type: Annotated[list[str] | None, Query(max_length=20)] = None,
               after: Annotated[int, Query(ge=0, le=2**62)] = 0,
               limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> dict[str, Any]:
        b = find_bot(key)
        with db.session() as s:
            page = rm.events(s, b.id, type, after, limit)
        return {"events": [asdict(e) for e in page], "next": page[-1].id if page else after}

    @v1.get("/bots/{key}/stream", tags=["read"])
    async def stream(key: str, _: CallerDep, request: Request, after: Annotated[int, Query(ge=0, le=2**62)] = 0,
                     max_events: Annotated[int | None, Query(ge=1, le=100_000)] = None) -> StreamingResponse:
        """Server-sent events: each new event as ``id: <n>`` and ``data: <json>``; resumes after
        ``Last-Event-ID``."""
        import json

        b = find_bot(key)
        last = request.headers.get("last-event-id", "")
        position = int(last) if last.isdigit() else after

        async def lines() -> AsyncIterator[str]:
            nonlocal position
            sent = 0
            while max_events is None or sent < max_events:
                with db.session() as s:
                    page = rm.events(s, b.id, None, position, 100)
                for e in page:
                    yield f"id: {e.id}\nevent: {e.type}\ndata: {json.dumps(e.record)}\n\n"
                    position, sent = e.id, sent + 1
                    if max_events is not None and sent >= max_events:
                        return
                if not page:
                    if await request.is_disconnected():
                        return
                    await asyncio.sleep(STREAM_POLL_S)

        return StreamingResponse(lines(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @v1.get("/risk", tags=["read"])
    def risk(_: CallerDep, history: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20) -> dict[str, Any]:
        snap = store.load()
        return {**_jsonable(asdict(risk_status(store))),
                "breakers": [{"name": b.name, "scope": b.scope, "tripped": b.tripped, "action": b.action.value,
                              "reason": b.reason, "tripped_ts": b.tripped_ts, "reset_after_ts": b.reset_after_ts}
                             for b in snap.breakers],
                "kill_switch_history": [asdict(k) for k in store.kill_switch_history(history)]}

    @v1.get("/audit", tags=["read"])
    def audit(_: CallerDep) -> list[dict[str, Any]]:
        from tradewarden.risk.audit import verify_audit

        out = []
        for head in store.audit_heads():
            try:
                result = verify_audit(Path(head.path), head.head)
                verdict = {"ok": result.ok, "records": result.records, "why": result.why, "message": result.message}
            except OSError as exc:
                verdict = {"ok": False, "records": 0, "why": "unreadable", "message": exc.strerror or str(exc)}
            out.append({"account": head.account, "path": head.path, **verdict})
        return out

    # -- writes -------------------------------------------------------------------------------------------
    @v1.post("/kill-switch", tags=["write"])
    def kill_switch(body: KillSwitchBody, caller: OperatorDep) -> dict[str, Any]:
        status = store.set_kill_switch(body.active, body.reason, f"api:{caller.token}", clock())
        acks = store.kill_switch_acks(status.event_id)
        return {"event_id": status.event_id, "active": status.active, "acknowledged": bool(acks),
                "acknowledged_by": [a.bot for a in acks]}

    @v1.get("/kill-switch/{event_id}", tags=["read"])
    def kill_switch_acks(event_id: int, _: CallerDep) -> dict[str, Any]:
        acks = store.kill_switch_acks(event_id) if 0 <= event_id < 2**31 else []
        return {"event_id": event_id, "acknowledged": bool(acks), "acknowledged_by": [a.bot for a in acks]}

    def queue(kind: str, scope: str, reason: str, caller: Caller, target: str = "") -> dict[str, Any]:
        return asdict(commands.request(db, kind, scope, reason, f"api:{caller.token}", clock(), target=target))

    def close_target(symbol: str, key: str | None) -> str:
        """The one bot a close is addressed to: two bots on one database may trade the same symbol, and an
        unaddressed close would be taken by whichever polls first (or by both)."""
        if key is not None:
            bot = find_bot(key)
            if symbol not in bot.symbols:
                raise HTTPException(409, f"bot {key} does not trade {symbol} (it trades {', '.join(bot.symbols)})")
            return commands.target_of(bot.account)
        with db.session() as s:
            trading = [b for b in rm.bots(s, clock()) if symbol in b.symbols]
        running = [b for b in trading if b.state == "running"]
        accounts = {b.account: b for b in running or trading}  # a restarted bot keeps its account: one target
        if not accounts:
            raise HTTPException(404, f"no bot trades {symbol}")
        if len(accounts) > 1:
            keys = ", ".join(sorted(bot_key(b.id) for b in accounts.values()))
            raise HTTPException(409, f"{len(accounts)} bots trade {symbol}: name one in 'bot' (one of {keys})")
        return commands.target_of(next(iter(accounts)))

    @v1.post("/commands/pause", tags=["write"])
    def pause(body: CommandBody, caller: OperatorDep) -> dict[str, Any]:
        return queue(commands.PAUSE_ENTRIES, body.symbol or "global", body.reason, caller)

    @v1.post("/commands/resume", tags=["write"])
    def resume(body: CommandBody, caller: OperatorDep) -> dict[str, Any]:
        return queue(commands.RESUME, body.symbol or "global", body.reason, caller)

    @v1.post("/commands/close-position", tags=["write"])
    def close_position(body: CloseBody, caller: OperatorDep) -> dict[str, Any]:
        return queue(commands.CLOSE_POSITION, body.symbol, body.reason, caller, close_target(body.symbol, body.bot))

    @v1.post("/commands/reload-params", tags=["write"])
    def reload_params(body: CommandBody, caller: OperatorDep) -> dict[str, Any]:
        return queue(commands.RELOAD_PARAMS, "global", body.reason, caller)

    @v1.post("/commands/reset-breaker", tags=["write"])
    def reset_breaker(body: BreakerBody, caller: OperatorDep) -> dict[str, str]:
        store.request_breaker_reset(body.breaker, body.scope, body.reason, f"api:{caller.token}", clock())
        return {"breaker": body.breaker, "scope": body.scope, "queued": "true"}

    @v1.get("/commands/{command_id}", tags=["read"])
    def command(command_id: int, _: CallerDep) -> dict[str, Any]:
        found = commands.get(db, command_id) if 0 <= command_id < 2**31 else None
        if found is None:
            raise HTTPException(404, f"no command {command_id}")
        return asdict(found)

    app.include_router(v1)
    app.include_router(fleet.router(db, guard, fleet_clock, fleet_stale_ms))
    app.include_router(dashboard.router(db, store, guard, clock, runs_dir if runs_dir is not None else Path("runs"),
                                        bot_key))
    return app
