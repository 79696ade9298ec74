"""The HTTP API against the app (TestClient) on SQLite and PostgreSQL: auth, roles, reads, writes, CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tradewarden.api import commands, tokens
from tradewarden.api.app import bot_key, create_app
from tradewarden.api.security import CSRF_HEADER, FailureLimiter
from tradewarden.persistence import Database
from tradewarden.risk.store import RiskStateStore

from .conftest import HOUR, T0, Clock, bot_info, published, trade


@pytest.fixture
def db(db_url: str | None, tmp_path: Path) -> Iterator[Database]:
    with Database.open(db_url, tmp_path) as database:
        with published(database, Clock(T0)) as (bus, _):
            trade(bus, T0)
        yield database


@pytest.fixture
def client(db: Database, tmp_path: Path) -> TestClient:
    return TestClient(create_app(db, tmp_path, clock=Clock(T0 + 2 * HOUR)))


def _auth(db: Database, role: tokens.Role, name: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.create(db, name or role.value, role, T0)}"}


def test_every_endpoint_but_healthz_needs_a_token(client: TestClient, db: Database) -> None:
    assert client.get("/healthz").status_code == 200
    for path in ("/readyz", "/api/v1/bots", "/api/v1/risk", "/api/v1/audit"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer tw_wrong"}).status_code == 401
    viewer = _auth(db, tokens.Role.VIEWER)
    assert client.get("/readyz", headers=viewer).json() == {"status": "ready"}
    assert client.post("/api/v1/kill-switch", json={"active": True, "reason": "x"}).status_code == 401


def test_a_viewer_reads_the_bot_and_may_not_write(client: TestClient, db: Database) -> None:
    viewer = _auth(db, tokens.Role.VIEWER)
    (bot,) = client.get("/api/v1/bots", headers=viewer).json()
    key = bot["key"]
    assert key == bot_key(bot_info().id) and bot["state"] == "stopped"
    (pos,) = client.get(f"/api/v1/bots/{key}/positions", headers=viewer).json()
    assert (pos["qty"], pos["realized"], pos["mark"]) == ("0.3", "1.96", "120")
    assert [o["client_id"] for o in client.get(f"/api/v1/bots/{key}/orders", headers=viewer).json()] == ["e1"]
    assert client.get(f"/api/v1/bots/{key}/equity", headers=viewer,
                      params={"start": T0, "end": T0}).json() == [{"ts": T0, "equity": "10007.96", "pnl": "7.96"}]
    page = client.get(f"/api/v1/bots/{key}/events", headers=viewer, params={"type": "Fill", "limit": 2}).json()
    assert [e["type"] for e in page["events"]] == ["Fill", "Fill"]
    rest = client.get(f"/api/v1/bots/{key}/events", headers=viewer,
                      params={"type": "Fill", "after": page["next"]}).json()
    assert [e["record"]["client_id"] for e in rest["events"]] == ["s1"]
    status = client.get(f"/api/v1/bots/{key}", headers=viewer).json()
    assert status["symbols"][0]["pnl_total"] == "7.96" and status["equity"] == "10007.96"
    assert client.get("/api/v1/bots/nope/positions", headers=viewer).status_code == 404
    for path, body in (("/api/v1/kill-switch", {"active": True, "reason": "x"}),
                       ("/api/v1/commands/pause", {}), ("/api/v1/commands/reset-breaker", {"breaker": "b"})):
        assert client.post(path, json=body, headers=viewer).status_code == 403


def test_the_stream_sends_the_events_as_server_sent_events(client: TestClient, db: Database) -> None:
    viewer = _auth(db, tokens.Role.VIEWER)
    key = bot_key(bot_info().id)
    with client.stream("GET", f"/api/v1/bots/{key}/stream", headers=viewer, params={"max_events": 2}) as resp:
        body = "".join(resp.iter_text())
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert body.count("\ndata: ") == 2 and "event: OrderPlaced" in body and "event: Fill" in body


def test_an_operator_write_is_queued_audited_and_reports_the_acknowledgement(client: TestClient,
                                                                          db: Database) -> None:
    operator = _auth(db, tokens.Role.OPERATOR, "alice")
    store = RiskStateStore(db)
    resp = client.post("/api/v1/kill-switch", json={"active": True, "reason": "outage"}, headers=operator).json()
    assert resp["active"] and not resp["acknowledged"]
    store.acknowledge_kill_switch(resp["event_id"], bot_info().id, T0)
    acked = client.get(f"/api/v1/kill-switch/{resp['event_id']}", headers=operator).json()
    assert acked == {"event_id": resp["event_id"], "acknowledged": True, "acknowledged_by": [bot_info().id]}
    queued = client.post("/api/v1/commands/close-position", json={"symbol": "BTC/USDT", "reason": "manual"},
                         headers=operator).json()
    assert (queued["kind"], queued["scope"], queued["actor"], queued["acknowledged"]) == \
        (commands.CLOSE_POSITION, "BTC/USDT", "api:alice", False)
    store.command_done(queued["id"], T0, "closed 0.3")
    done = client.get(f"/api/v1/commands/{queued['id']}", headers=operator).json()
    assert done["acknowledged"] and done["outcome"] == "closed 0.3"
    actions = [(a.action, a.actor) for a in store.operator_actions()]
    assert actions == [("kill_switch_on", "api:alice"), ("close_position", "api:alice")]
    assert [c.kind for c in store.pending_commands()] == []  # the close was handled above


def test_a_session_cookie_needs_the_csrf_header_on_writes(client: TestClient, db: Database) -> None:
    secret = tokens.create(db, "dash", tokens.Role.OPERATOR, T0)
    login = client.post("/api/v1/login", json={"token": secret})
    assert login.status_code == 200
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and secret not in login.text
    assert client.get("/api/v1/bots").status_code == 200  # the cookie authenticates reads
    assert client.post("/api/v1/commands/pause", json={}).status_code == 403
    ok = client.post("/api/v1/commands/pause", json={}, headers={CSRF_HEADER: login.json()["csrf"]})
    assert ok.status_code == 200 and ok.json()["actor"] == "api:dash"
    tokens.revoke(db, "dash", T0)
    assert client.get("/api/v1/bots").status_code == 401


def test_repeated_failures_from_one_address_are_refused_for_a_while(db: Database, tmp_path: Path) -> None:
    limiter = FailureLimiter(max_failures=3, window_s=60, max_clients=2)
    client = TestClient(create_app(db, tmp_path, limiter=limiter))
    good = _auth(db, tokens.Role.VIEWER)
    for _ in range(3):
        assert client.get("/api/v1/bots", headers={"Authorization": "Bearer tw_guess"}).status_code == 401
    assert client.get("/api/v1/bots", headers=good).status_code == 429
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        limiter.failed(address)
    assert len(limiter) == 2  # bounded: the oldest addresses are forgotten


def test_no_cors_headers_are_sent(client: TestClient, db: Database) -> None:
    viewer = _auth(db, tokens.Role.VIEWER)
    resp = client.get("/api/v1/bots", headers={**viewer, "Origin": "https://evil.example"})
    assert resp.status_code == 200 and not any(h.startswith("access-control-") for h in resp.headers)
