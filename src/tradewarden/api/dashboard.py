"""The web dashboard that ``tradewarden serve`` serves at ``/``: static pages from the package (no CDN, no
external font, nothing fetched from elsewhere) and the few reads only the dashboard needs (who am I, the fleet
summary, a bot's marks for its price charts, the runs directory's reports). docs/OPERATIONS.md "Dashboard".

The pages hold no data and no secret: they fetch everything from the API with the session cookie, so serving
them needs no login. Every page goes out with a strict Content-Security-Policy (scripts and styles from this
origin only, no framing); a run report (written by the backtest or the optimizer) goes out sandboxed with no
script at all, and only files under the runs directory with a report's suffix are served (no traversal).
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations (see app.py).
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select

from tradewarden.api import readmodel as rm
from tradewarden.api.security import CSRF_COOKIE, SESSION_COOKIE, Caller, Guard
from tradewarden.api.status import _jsonable, bot_status
from tradewarden.domain.events import EventType
from tradewarden.persistence import Database
from tradewarden.persistence.ops_models import BotEventRow
from tradewarden.risk.store import RiskStateStore

STATIC = Path(__file__).parent / "static"
PAGES = {"/": "fleet.html", "/login": "login.html", "/bot": "bot.html", "/audit": "audit.html",
         "/runs": "runs.html", "/network": "network.html"}
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
# A report is a self-contained page with inline CSS and SVG and no script: it gets exactly that, sandboxed.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
REPORT_NAMES = ("summary.html", "optimization.html")
REPORT_SUFFIXES = {".html": "text/html; charset=utf-8", ".json": "application/json", ".csv": "text/csv"}
RUNS_DEPTH = 3          # runs/<run>/summary.html and runs/optimize/<study>/optimization.html, one level more
MAX_RUNS = 500
ASSETS = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".svg": "image/svg+xml"}


def _headers(csp: str) -> dict[str, str]:
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store"}


def list_runs(root: Path) -> list[dict[str, Any]]:
    """Every report under ``root`` (newest first): its directory relative to ``root``, kind and headline."""
    if not root.is_dir():
        return []
    found: list[tuple[float, dict[str, Any]]] = []
    for depth in range(1, RUNS_DEPTH + 1):
        for name in REPORT_NAMES:
            for report in root.glob("/".join(["*"] * depth) + "/" + name):
                if _through_a_link(root, report) or not report.is_file():
                    continue  # runs/latest names a run listed already; a link may also lead outside the runs
                rel = report.parent.relative_to(root).as_posix()
                entry: dict[str, Any] = {"path": rel, "kind": "optimization" if name == REPORT_NAMES[1]
                                         else "backtest", "report": f"{rel}/{name}",
                                         "modified": int(report.stat().st_mtime * 1000), "metrics": {}}
                summary = report.parent / "summary.json"
                if name == REPORT_NAMES[0] and summary.is_file():
                    entry["metrics"] = _headline(summary)
                found.append((report.stat().st_mtime, entry))
    found.sort(key=lambda item: (-item[0], item[1]["path"]))
    return [entry for _, entry in found[:MAX_RUNS]]


def _through_a_link(root: Path, path: Path) -> bool:
    """Whether ``path`` or a directory between ``root`` and it is a symbolic link."""
    here = path
    while here != root and here != here.parent:
        if here.is_symlink():
            return True
        here = here.parent
    return False


def _headline(summary: Path) -> dict[str, Any]:
    """A few numbers of summary.json for the list; an unreadable file shows none rather than failing the page."""
    try:
        metrics = json.loads(summary.read_text(encoding="utf-8")).get("metrics", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(metrics, dict):
        return {}
    out: dict[str, Any] = {}
    for name in ("total_return", "sharpe", "max_drawdown", "trade_count"):
        entry = metrics.get(name)
        value = entry.get("value") if isinstance(entry, dict) else None
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            out[name] = value
    return out


def report_file(root: Path, rel: str) -> Path:
    """``rel`` under ``root`` if it is a report file there (after resolving links), else 404."""
    base = root.resolve()
    wanted = (base / rel).resolve()
    if (not wanted.is_relative_to(base) or wanted == base or wanted.suffix not in REPORT_SUFFIXES
            or not wanted.is_file()):
        raise HTTPException(404, "no such report")
    return wanted


def router(db: Database, store: RiskStateStore, guard: Guard, clock: Callable[[], int], runs_dir: Path,
           key_of: Callable[[str], str]) -> APIRouter:
    """The pages, the static assets and the dashboard's reads; ``guard`` authenticates as for the API."""
    r = APIRouter()
    CallerDep = Annotated[Caller, Depends(guard.caller)]

    def find(key: str) -> rm.BotView:
        with db.session() as s:
            for b in rm.bots(s, clock()):
                if key_of(b.id) == key:
                    return b
        raise HTTPException(404, f"no bot with key {key!r}")

    def page(name: str) -> Callable[[], FileResponse]:
        def serve_page() -> FileResponse:
            return FileResponse(STATIC / name, media_type="text/html; charset=utf-8", headers=_headers(PAGE_CSP))
        return serve_page

    for path, name in PAGES.items():
        r.add_api_route(path, page(name), methods=["GET"], include_in_schema=False)

    @r.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        file = STATIC / name
        if "/" in name or "\\" in name or name.startswith(".") or file.suffix not in ASSETS or not file.is_file():
            raise HTTPException(404, "no such file")
        return FileResponse(file, media_type=ASSETS[file.suffix], headers=_headers(PAGE_CSP))

    @r.get("/api/v1/me", tags=["dashboard"])
    def me(who: CallerDep) -> dict[str, str]:
        return {"token": who.token, "role": who.role.value}

    @r.post("/api/v1/logout", tags=["dashboard"])
    def logout(request: Request, response: Response) -> dict[str, bool]:
        sid = request.cookies.get(SESSION_COOKIE, "")
        if sid:
            guard.sessions.close(sid)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return {"logged_out": True}

    @r.get("/api/v1/fleet", tags=["dashboard"])
    def fleet(_: CallerDep) -> dict[str, Any]:
        """Every bot with what its card shows: equity, PnL today, open positions, heartbeat age."""
        now = clock()
        with db.session() as s:
            views = rm.bots(s, now)
        cards = []
        for b in views:
            st = bot_status(store, b, now)
            cards.append(_jsonable({
                "key": key_of(b.id), "id": b.id, "account": b.account, "mode": b.mode, "state": b.state,
                "symbols": b.symbols, "strategy": b.strategy, "equity": st.equity,
                "pnl_today": sum((x.pnl_today for x in st.symbols), Decimal(0)),
                "open_positions": sum(1 for x in st.symbols if x.qty != 0),
                "heartbeat_age_s": max(0, (now - b.last_heartbeat) // 1000), "problems": st.problems}))
        return {"now": now, "bots": cards}

    @r.get("/api/v1/bots/{key}/marks", tags=["dashboard"])
    def marks(key: str, _: CallerDep,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 2000) -> dict[str, list[list[Any]]]:
        """Each symbol's mark per closed candle (from the newest ``limit`` equity samples), oldest first:
        ``{symbol: [[ts, price], ...]}``, the price charts' line."""
        b = find(key)
        q = (select(BotEventRow.json).where(BotEventRow.bot == b.id, BotEventRow.type == str(EventType.EQUITY_SAMPLE))
             .order_by(BotEventRow.id.desc()).limit(limit))
        out: dict[str, list[list[Any]]] = {}
        with db.session() as s:
            rows = list(s.scalars(q))
        for raw in reversed(rows):
            rec = json.loads(raw)
            ts = rec.get("candle_ts", rec.get("ts"))
            for symbol, price in (rec.get("marks") or {}).items():
                out.setdefault(str(symbol), []).append([ts, str(price)])
        return out

    @r.get("/api/v1/bots/{key}/recent-events", tags=["dashboard"])
    def recent_events(key: str, _: CallerDep, type: Annotated[list[str] | None, Query(max_length=20)] = None,
                      limit: Annotated[int, Query(ge=1, le=5000)] = 100) -> dict[str, Any]:
        """The newest ``limit`` events (of the given types), oldest first; ``last`` is where the live stream
        continues (``after``); ``types`` every event type, since a browser's EventSource hears a named message
        only by its name. The charts' trade markers are the newest fills (``type=Fill``)."""
        b = find(key)
        q = select(BotEventRow).where(BotEventRow.bot == b.id)
        if type:
            q = q.where(BotEventRow.type.in_(type))
        q = q.order_by(BotEventRow.id.desc()).limit(limit)
        with db.session() as s:
            rows = list(s.scalars(q))[::-1]
        return {"events": [{"id": e.id, "ts": e.ts, "type": e.type, "record": json.loads(e.json)} for e in rows],
                "last": rows[-1].id if rows else 0, "types": sorted(str(t) for t in EventType)}

    @r.get("/api/v1/runs", tags=["dashboard"])
    def runs(_: CallerDep) -> list[dict[str, Any]]:
        return list_runs(runs_dir)

    @r.get("/runs/{rel:path}", include_in_schema=False)
    def run_report(rel: str, _: CallerDep) -> FileResponse:
        file = report_file(runs_dir, rel)
        return FileResponse(file, media_type=REPORT_SUFFIXES[file.suffix], headers=_headers(REPORT_CSP))

    return r
