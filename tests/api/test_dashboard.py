"""The dashboard's server side (TestClient): pages and assets from the package with a strict CSP, the reads only
the dashboard uses, run reports served only from under the runs directory, no secret anywhere, and the assets
shipped in the wheel. The pages themselves are driven in a real browser in test_dashboard_browser.py."""

from __future__ import annotations

import json
import re
import secrets
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tradewarden.api import tokens
from tradewarden.api.app import bot_key, create_app
from tradewarden.api.dashboard import ASSETS, PAGES, STATIC
from tradewarden.persistence import Database

from .conftest import HOUR, T0, Clock, bot_info, published, trade

ROOT = Path(__file__).resolve().parents[2]
# canaries made per test run: no secret-looking literal is committed
CANARY_KEY = f"canarykey{secrets.token_hex(12)}"
CANARY_SECRET = f"canarysecret{secrets.token_hex(12)}"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database.open(None, tmp_path)
    with published(database, Clock(T0)) as (bus, _):
        trade(bus, T0)
    return database


def _runs(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    (runs / "2026-01-01-sma").mkdir(parents=True)
    (runs / "2026-01-01-sma" / "summary.html").write_text("<html><body>backtest report</body></html>")
    (runs / "2026-01-01-sma" / "summary.json").write_text(json.dumps(
        {"run": {}, "metrics": {"total_return": {"value": 4.2, "unit": "%"}, "sharpe": {"value": 1.1},
                                "trade_count": {"value": 7}}}))
    (runs / "optimize" / "study1").mkdir(parents=True)
    (runs / "optimize" / "study1" / "optimization.html").write_text("<html>optimization</html>")
    (tmp_path / "secret.html").write_text("outside the runs directory")
    return runs


@pytest.fixture
def client(db: Database, tmp_path: Path) -> TestClient:
    return TestClient(create_app(db, tmp_path, clock=Clock(T0 + 2 * HOUR), runs_dir=_runs(tmp_path)))


def _viewer(db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.create(db, 'eve', tokens.Role.VIEWER, T0)}"}


def test_every_page_is_served_from_the_package_with_a_strict_policy_and_nothing_external(
        client: TestClient) -> None:
    for path in PAGES:
        resp = client.get(path)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        # every script and stylesheet the page names is ours and is served
        refs = re.findall(r'(?:src|href)="([^"]+)"', resp.text)
        assert refs and all(r.startswith("/static/") or r.startswith("/") or r == "data:," for r in refs)
        for ref in refs:
            if ref.startswith("/static/"):
                assert client.get(ref).status_code == 200, ref
    for asset in STATIC.iterdir():
        text = asset.read_text(encoding="utf-8")
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), f"{asset.name} names another site"
        assert "innerHTML" not in text, asset.name  # values go on the page as text only
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/static/.hidden.js").status_code == 404


def test_the_dashboard_reads_need_a_login_and_give_the_fleet_marks_and_recent_events(
        client: TestClient, db: Database) -> None:
    key = bot_key(bot_info().id)
    for path in ("/api/v1/me", "/api/v1/fleet", "/api/v1/runs", f"/api/v1/bots/{key}/marks",
                 f"/api/v1/bots/{key}/recent-events", "/runs/2026-01-01-sma/summary.html"):
        assert client.get(path).status_code == 401, path
    viewer = _viewer(db)
    assert client.get("/api/v1/me", headers=viewer).json() == {"token": "eve", "role": "viewer"}
    (card,) = client.get("/api/v1/fleet", headers=viewer).json()["bots"]
    # 0.3 BTC left from 100, marked at 120 (6.0) plus 1.96 realized today; published at T0, read 2 h later
    assert (card["key"], card["mode"], card["state"], card["equity"], card["pnl_today"], card["open_positions"],
            card["heartbeat_age_s"]) == (key, "paper", "stopped", "10007.96", "7.96", 1, 7200)
    assert client.get(f"/api/v1/bots/{key}/marks", headers=viewer).json() == {"BTC/USDT": [[T0, "120"]]}
    recent = client.get(f"/api/v1/bots/{key}/recent-events", headers=viewer, params={"limit": 2}).json()
    assert [e["type"] for e in recent["events"]] == ["OrderPlaced", "EquitySample"]
    assert recent["last"] == recent["events"][-1]["id"] and "KillSwitchActivated" in recent["types"]
    assert client.get("/api/v1/bots/nope/marks", headers=viewer).status_code == 404


def test_runs_are_listed_and_only_reports_under_the_runs_directory_are_served(client: TestClient, db: Database,
                                                                              tmp_path: Path) -> None:
    viewer = _viewer(db)
    listed = {r["path"]: r for r in client.get("/api/v1/runs", headers=viewer).json()}
    assert set(listed) == {"2026-01-01-sma", "optimize/study1"}
    assert listed["2026-01-01-sma"]["metrics"] == {"total_return": 4.2, "sharpe": 1.1, "trade_count": 7}
    assert listed["optimize/study1"]["kind"] == "optimization"
    resp = client.get("/runs/2026-01-01-sma/summary.html", headers=viewer)
    assert resp.status_code == 200 and "backtest report" in resp.text
    assert "sandbox" in resp.headers["content-security-policy"]  # a report runs no script, even a tampered one
    (tmp_path / "runs" / "link.html").symlink_to(tmp_path / "secret.html")
    for bad in ("../secret.html", "..%2Fsecret.html", "%2E%2E/secret.html", "2026-01-01-sma/../../secret.html",
                "link.html", str(tmp_path / "secret.html"), "/" + str(tmp_path / "secret.html"), "",
                "2026-01-01-sma", "2026-01-01-sma/nothing.html"):
        resp = client.get(f"/runs/{bad}", headers=viewer)
        assert resp.status_code == 404 and "outside the runs" not in resp.text, bad
    (tmp_path / "runs" / "notes.txt").write_text("not a report")
    assert client.get("/runs/notes.txt", headers=viewer).status_code == 404
    # runs/latest (a running bot links it to its newest run) lists nothing twice
    (tmp_path / "runs" / "latest").symlink_to("2026-01-01-sma", target_is_directory=True)
    again = [r["path"] for r in client.get("/api/v1/runs", headers=viewer).json()]
    assert sorted(again) == ["2026-01-01-sma", "optimize/study1"]


def test_logout_ends_the_session(client: TestClient, db: Database) -> None:
    secret = tokens.create(db, "op", tokens.Role.OPERATOR, T0)
    assert client.post("/api/v1/login", json={"token": secret}).status_code == 200
    assert client.get("/api/v1/me").json()["role"] == "operator"
    csrf = client.cookies["tw_csrf"]
    client.post("/api/v1/logout")
    client.cookies.set("tw_csrf", csrf)
    assert client.get("/api/v1/me").status_code == 401


def test_no_secret_reaches_a_page_asset_or_dashboard_read(db: Database, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_KEY", CANARY_KEY)
    monkeypatch.setenv("TRADEWARDEN_EXCHANGE__API_SECRET", CANARY_SECRET)
    client = TestClient(create_app(db, tmp_path, runs_dir=_runs(tmp_path)))
    secret = tokens.create(db, "op", tokens.Role.OPERATOR, T0)
    login = client.post("/api/v1/login", json={"token": secret})
    key = bot_key(bot_info().id)
    bodies = [login, *(client.get(p) for p in PAGES),
              *(client.get(f"/static/{a.name}") for a in STATIC.iterdir() if a.suffix in ASSETS)]
    for path in ("/api/v1/me", "/api/v1/fleet", "/api/v1/runs", f"/api/v1/bots/{key}/marks",
                 f"/api/v1/bots/{key}/recent-events", "/runs/2026-01-01-sma/summary.html"):
        bodies.append(client.get(path))
    assert all(r.status_code == 200 for r in bodies)
    seen = "".join(r.text + str(dict(r.headers)) for r in bodies)
    for canary in (secret, CANARY_KEY, CANARY_SECRET):
        assert canary not in seen


def test_the_package_data_ships_every_dashboard_file() -> None:
    """``pip install .`` copies the files pyproject's package-data names (globs under src/tradewarden, as
    setuptools expands them): every file of the dashboard must be among them, or an install serves 404s."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["tradewarden"]
    package = ROOT / "src" / "tradewarden"
    shipped = {f.resolve() for pattern in patterns for f in package.glob(pattern)}
    static = list(STATIC.iterdir())
    assert len(static) >= 10 and all(f.resolve() in shipped for f in static), \
        [f.name for f in static if f.resolve() not in shipped]
