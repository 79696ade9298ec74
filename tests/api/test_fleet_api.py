"""The fleet endpoints (TestClient) on SQLite and PostgreSQL: who may read and write (401, 403, CSRF), instances
shown with heartbeat age, progress and ``lost``, the activity feed, the newest harness run per exchange, the
account setup form's checks (422, one line, the refused value never echoed) and no secret value in any answer."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tradewarden.api import tokens
from tradewarden.api.app import create_app
from tradewarden.api.security import CSRF_HEADER, FailureLimiter
from tradewarden.domain.instances import DesiredState, InstanceRole, InstanceState
from tradewarden.persistence import Database
from tradewarden.persistence import fleet_repo as registry
from tradewarden.persistence import instance_repo as instances
from tradewarden.persistence.fleet_repo import STALE_MS, HarnessOutcome, WarmupProgress

from .conftest import T0, Clock

F = "/api/v1/fleet"
READS = (f"{F}/exchanges", f"{F}/instances", f"{F}/events", f"{F}/harness", f"{F}/accounts", f"{F}/users")


@pytest.fixture
def db(db_url: str | None, tmp_path: Path) -> Database:
    database = Database.open(db_url, tmp_path)
    registry.add_user(database, "ana")
    return database


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(db: Database, tmp_path: Path, clock: Clock) -> TestClient:
    # the first test sends many unauthenticated requests on purpose: they must not be slowed down to 429
    return TestClient(create_app(db, tmp_path, limiter=FailureLimiter(max_failures=1000), fleet_clock=clock))


def _auth(db: Database, role: tokens.Role, name: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.create(db, name or role.value, role, T0)}"}


def _instance(db: Database, host: str = "host-a") -> int:
    return instances.register_instance(db, "binance", InstanceRole.MARKET_DATA, host, symbols=["BTC/USDT", "ETH/USDT"],
                                       timeframes=["1m", "1h"]).id


def _account(**fields: object) -> dict[str, object]:
    return {"user": "ana", "exchange": "binance", "display_name": "ana main", "api_key_env": "ANA_BINANCE_KEY",
            "api_secret_env": "ANA_BINANCE_SECRET", **fields}


def test_every_fleet_endpoint_needs_a_token_and_a_viewer_reads_them(client: TestClient, db: Database) -> None:
    iid = _instance(db)
    for path in (*READS, f"{F}/instances/{iid}"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer tw_wrong"}).status_code == 401, path
    for path in (f"{F}/instances/{iid}/connect", f"{F}/instances/{iid}/stop", f"{F}/accounts"):
        assert client.post(path, json={}).status_code == 401, path
    viewer = _auth(db, tokens.Role.VIEWER)
    assert all(client.get(path, headers=viewer).status_code == 200 for path in READS)
    slugs = {e["slug"]: e for e in client.get(f"{F}/exchanges", headers=viewer).json()}
    assert set(slugs) == {"binance", "binance_us"} and slugs["binance"]["is_default"]
    assert slugs["binance_us"]["ccxt_id"] == "binanceus"
    assert client.get(f"{F}/users", headers=viewer).json() == [{"id": 1, "name": "ana"}]
    assert client.get(f"{F}/instances/{iid}", headers=viewer).json()["shown"] == "idle"
    assert client.get(f"{F}/instances/999", headers=viewer).status_code == 404


def test_an_instance_shows_its_state_heartbeat_age_progress_and_goes_lost(client: TestClient, db: Database,
                                                                         clock: Clock) -> None:
    viewer = _auth(db, tokens.Role.VIEWER)
    iid = _instance(db)
    (idle,) = client.get(f"{F}/instances", headers=viewer).json()["instances"]
    assert (idle["state"], idle["shown"], idle["desired"], idle["heartbeat_age_ms"]) == ("idle", "idle", "stopped",
                                                                                      None)
    assert (idle["symbols"], idle["timeframes"], idle["exchange"]) == (["BTC/USDT", "ETH/USDT"], ["1m", "1h"],
                                                                       "binance")
    instances.transition(db, iid, InstanceState.STARTING, "agent start", pid=4242)
    instances.transition(db, iid, InstanceState.WARMING, "warm-up")
    beat = instances.heartbeat(db, iid, pid=4242, progress=WarmupProgress(1, 2, 1500, 4000))
    clock.now = beat + 3_000
    body = client.get(f"{F}/instances", headers=viewer).json()
    (inst,) = body["instances"]
    assert (inst["shown"], inst["pid"], inst["heartbeat_age_ms"], body["stale_ms"]) == ("warming", 4242, 3_000,
                                                                                      STALE_MS)
    assert inst["progress"] == {"symbols_done": 1, "symbols_total": 2, "candles_done": 1500, "candles_total": 4000,
                                "fraction": 0.375}
    clock.now = beat + STALE_MS + 1   # the process died: nobody wrote "lost", the reader shows it
    (inst,) = client.get(f"{F}/instances", headers=viewer).json()["instances"]
    assert (inst["state"], inst["shown"]) == ("warming", "lost")
    instances.transition(db, iid, InstanceState.ERROR, "warm-up failed", error="connection timeout to the REST URL")
    (inst,) = client.get(f"{F}/instances", headers=viewer).json()["instances"]
    assert (inst["shown"], inst["last_error"]) == ("error", "connection timeout to the REST URL")


def test_lost_is_judged_by_the_configured_staleness_as_the_agent_judges_it(db: Database, tmp_path: Path,
                                                                          clock: Clock) -> None:
    client = TestClient(create_app(db, tmp_path, fleet_clock=clock, fleet_stale_ms=60_000))
    viewer = _auth(db, tokens.Role.VIEWER)
    iid = _instance(db)
    instances.transition(db, iid, InstanceState.STARTING, "agent start", pid=4242)
    beat = instances.heartbeat(db, iid, pid=4242)
    clock.now = beat + STALE_MS + 1  # past the default, within fleet.stale_s = 60 s
    body = client.get(f"{F}/instances", headers=viewer).json()
    assert (body["stale_ms"], body["instances"][0]["shown"]) == (60_000, "starting")
    clock.now = beat + 60_001
    assert client.get(f"{F}/instances/{iid}", headers=viewer).json()["shown"] == "lost"


def test_connect_and_stop_set_the_desired_state_for_operators_only(client: TestClient, db: Database) -> None:
    iid = _instance(db)
    viewer, op = _auth(db, tokens.Role.VIEWER), _auth(db, tokens.Role.OPERATOR, "olga")
    refused = client.post(f"{F}/instances/{iid}/connect", json={}, headers=viewer)
    assert refused.status_code == 403 and "viewer" in refused.json()["detail"]
    assert instances.get_instance(db, iid).desired is DesiredState.STOPPED
    done = client.post(f"{F}/instances/{iid}/connect", json={"reason": "morning start"}, headers=op)
    assert done.status_code == 200 and done.json()["desired"] == "running"
    assert instances.get_instance(db, iid).desired is DesiredState.RUNNING
    last = instances.instance_events(db, instance_id=iid)[-1]
    assert (last.kind, last.to_state, last.reason, last.actor) == ("desired", "running", "morning start", "api:olga")
    assert client.post(f"{F}/instances/{iid}/stop", headers=op).json()["desired"] == "stopped"  # no body: fine
    assert instances.instance_events(db, instance_id=iid)[-1].reason == "Stop from the API"
    assert client.post(f"{F}/instances/999/connect", json={}, headers=op).status_code == 404
    bad = client.post(f"{F}/instances/0/connect", json={}, headers=op)
    assert bad.status_code == 422 and bad.json()["detail"].startswith("instance_id: ")
    # the dashboard's session: a write must repeat the CSRF token
    secret = tokens.create(db, "sess", tokens.Role.OPERATOR, T0)
    csrf = client.post("/api/v1/login", json={"token": secret}).json()["csrf"]
    no_csrf = client.post(f"{F}/instances/{iid}/connect", json={})
    assert no_csrf.status_code == 403 and CSRF_HEADER in no_csrf.json()["detail"]
    assert instances.get_instance(db, iid).desired is DesiredState.STOPPED
    assert client.post(f"{F}/instances/{iid}/connect", json={}, headers={CSRF_HEADER: csrf}).status_code == 200
    assert instances.get_instance(db, iid).desired is DesiredState.RUNNING


def test_the_activity_feed_pages_after_the_last_event_seen(client: TestClient, db: Database) -> None:
    viewer = _auth(db, tokens.Role.VIEWER)
    a, b = _instance(db, "host-a"), _instance(db, "host-b")
    instances.transition(db, a, InstanceState.STARTING, "agent start", pid=1, actor="agent:host-a")
    page = client.get(f"{F}/events", headers=viewer).json()
    assert [(e["instance_id"], e["kind"], e["to_state"]) for e in page["events"]] == [
        (a, "registered", "idle"), (b, "registered", "idle"), (a, "transition", "starting")]
    assert page["events"][-1]["actor"] == "agent:host-a" and page["events"][-1]["host"] == "host-a"
    assert page["next"] == page["events"][-1]["id"]
    assert client.get(f"{F}/events", headers=viewer, params={"after": page["next"]}).json() == {
        "events": [], "next": page["next"]}
    instances.note(db, b, "restart scheduled in 2 s")
    later = client.get(f"{F}/events", headers=viewer, params={"after": page["next"]}).json()["events"]
    assert [(e["instance_id"], e["kind"], e["reason"]) for e in later] == [(b, "note", "restart scheduled in 2 s")]
    only_a = client.get(f"{F}/events", headers=viewer, params={"instance": a}).json()["events"]
    assert {e["instance_id"] for e in only_a} == {a}
    assert client.get(f"{F}/events", headers=viewer, params={"limit": 0}).status_code == 422


def test_the_newest_harness_run_of_each_exchange(client: TestClient, db: Database) -> None:
    viewer = _auth(db, tokens.Role.VIEWER)
    assert client.get(f"{F}/harness", headers=viewer).json() == []
    rest = HarnessOutcome("rest_warmup", True, "2 series cached", {"candles": 2000, "keys": 2})
    instances.record_harness(db, "binance", "run-1", [rest, HarnessOutcome("ws_kline", False, "no kline in 2 s", {})])
    instances.record_harness(db, "binance", "run-2", [rest, HarnessOutcome("ws_kline", True, "kline in 0.4 s", {})])
    instances.record_harness(db, "binance_us", "run-3", [HarnessOutcome("rest_warmup", False, "timeout", {})])
    runs = {r["exchange"]: r for r in client.get(f"{F}/harness", headers=viewer).json()}
    assert (runs["binance"]["run_id"], runs["binance"]["passed"]) == ("run-2", True)
    assert [(t["test"], t["passed"], t["counts"]) for t in runs["binance"]["tests"]] == [
        ("rest_warmup", True, {"candles": 2000, "keys": 2}), ("ws_kline", True, {})]
    assert (runs["binance_us"]["passed"], runs["binance_us"]["tests"][0]["detail"]) == (False, "timeout")


def test_an_account_is_set_up_with_variable_names_only(client: TestClient, db: Database) -> None:
    op, viewer = _auth(db, tokens.Role.OPERATOR), _auth(db, tokens.Role.VIEWER)
    assert client.post(f"{F}/accounts", json=_account(), headers=viewer).status_code == 403
    made = client.post(f"{F}/accounts", json=_account(is_default=True), headers=op)
    assert made.status_code == 201
    account = made.json()
    assert (account["user"], account["exchange"], account["api_key_env"], account["is_default"]) == (
        "ana", "binance", "ANA_BINANCE_KEY", True)
    assert client.get(f"{F}/accounts", headers=viewer).json() == [account]
    assert registry.list_accounts(db)[0].api_secret_env == "ANA_BINANCE_SECRET"
    bare = client.post(f"{F}/accounts", json=_account(display_name="data only", api_key_env="", api_secret_env=""),
                       headers=op).json()
    assert (bare["api_key_env"], bare["api_secret_env"]) == (None, None)

    changed = client.put(f"{F}/accounts/{account['id']}", json={"api_key_env": "ANA_KEY_2", "api_secret_env": "",
                                                                "is_active": False}, headers=op)
    assert changed.status_code == 200
    assert (changed.json()["api_key_env"], changed.json()["api_secret_env"], changed.json()["is_active"],
            changed.json()["display_name"]) == ("ANA_KEY_2", None, False, "ana main")
    assert client.put(f"{F}/accounts/999", json={}, headers=op).status_code == 404
    assert client.put(f"{F}/accounts/{account['id']}", json={}, headers=viewer).status_code == 403


@pytest.mark.parametrize(("body", "says"), [
    (_account(api_key_env="xK9fQ2mZ7pLw"), "api_key_env is not an environment variable name"),
    (_account(api_secret_env="ANA SECRET"), "api_secret_env is not an environment variable name"),
    (_account(api_key_env="1KEY"), "api_key_env is not an environment variable name"),
    (_account(api_key="xK9fQ2mZ7pLw"), "api_key: unknown field (an account takes the names of variables only"),
    (_account(colour="xK9fQ2mZ7pLw"), "colour: unknown field (in the body)"),
    (_account(user="bo"), "user 'bo' not found; add it with `tradewarden users add bo`"),
    (_account(exchange="kraken"), "exchange 'kraken' not found in the registry"),
    (_account(api_secret_env="ANA_BINANCE_KEY"), "name the same variable"),
    (_account(display_name="   "), "display_name: must not be blank"),
    (_account(display_name="a\nb"), "display_name: must be printable text on one line"),
    ({"user": "ana", "exchange": "binance"}, "display_name: field required (in the body)"),
    (_account(is_active="maybe"), "is_active: "),
])
def test_a_bad_account_is_refused_with_one_line_that_never_echoes_it(client: TestClient, db: Database,
                                                                   body: dict[str, object], says: str) -> None:
    op = _auth(db, tokens.Role.OPERATOR)
    resp = client.post(f"{F}/accounts", json=body, headers=op)
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and says in detail
    assert "xK9fQ2mZ7pLw" not in resp.text and "maybe" not in resp.text
    assert registry.list_accounts(db) == []


def test_a_duplicate_account_and_a_broken_body_are_refused(client: TestClient, db: Database) -> None:
    op = _auth(db, tokens.Role.OPERATOR)
    first = client.post(f"{F}/accounts", json=_account(), headers=op).json()
    dup = client.post(f"{F}/accounts", json=_account(), headers=op)
    assert dup.status_code == 422 and "already has an account named 'ana main'" in dup.json()["detail"]
    client.post(f"{F}/accounts", json=_account(display_name="second", api_key_env="", api_secret_env=""), headers=op)
    clash = client.put(f"{F}/accounts/{first['id']}", json={"display_name": "second"}, headers=op)
    assert clash.status_code == 422 and "already has an account named 'second'" in clash.json()["detail"]
    same = client.put(f"{F}/accounts/{first['id']}", json={"api_secret_env": "ANA_BINANCE_KEY"}, headers=op)
    assert same.status_code == 422 and "name the same variable" in same.json()["detail"]
    broken = client.post(f"{F}/accounts", content=b"{not json", headers={**op, "Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"] == "the request body is not valid JSON"
    assert [a.display_name for a in registry.list_accounts(db)] == ["ana main", "second"]


def test_no_secret_value_reaches_a_fleet_answer(client: TestClient, db: Database,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # canaries made per run; the key's variable name says nothing about secrets, so only the account names it
    key, secret = "canary-" + secrets.token_hex(8), "canary-" + secrets.token_hex(8)
    password = "canary" + secrets.token_hex(8)
    monkeypatch.setenv("ANA_BINANCE_API", key)
    monkeypatch.setenv("ANA_BINANCE_SECRET", secret)
    op = _auth(db, tokens.Role.OPERATOR)
    assert client.post(f"{F}/accounts", json=_account(api_key_env="ANA_BINANCE_API"), headers=op).status_code == 201
    registry.add_exchange(db, "sim", "binance", rest_url=f"http://ana:{password}@127.0.0.1:9/api")
    iid = _instance(db)
    instances.transition(db, iid, InstanceState.STARTING, f"start with {key}", pid=7)
    instances.transition(db, iid, InstanceState.ERROR, "auth failed", error=f"binance 401 for key {key} / {secret}")
    instances.record_harness(db, "binance", "r1", [HarnessOutcome("rest_warmup", False, f"refused {secret}", {})])
    bodies = [client.get(path, headers=op) for path in (*READS, f"{F}/instances/{iid}")]
    bodies.append(client.post(f"{F}/instances/{iid}/connect", json={}, headers=op))
    assert all(r.status_code == 200 for r in bodies)
    seen = "".join(r.text for r in bodies)
    for canary in (key, secret, password):
        assert canary not in seen
    assert "ANA_BINANCE_API" in seen and "http://***@127.0.0.1:9/api" in seen
    last_error = json.loads(bodies[-1].text)["last_error"]
    assert last_error == "binance 401 for key *** / ***"
