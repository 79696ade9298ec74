"""The operations plane end to end: a paper session in a subprocess (built-in simulator) publishes its state;
``tradewarden status`` and the HTTP API (the app in-process on the same database) read it; the API's writes
(pause, resume, close a position, the kill switch) are carried out and acknowledged by the bot; a clean stop
reads as stopped, a SIGKILLed bot as lost once its heartbeat is stale."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from tradewarden.api import tokens
from tradewarden.api.app import bot_key, create_app
from tradewarden.persistence import Database

pytestmark = pytest.mark.slow

T = TypeVar("T")
ARGS = ["--mode", "paper", "--duration", "10d", "--set", "runtime.sim_speed=300",
        "--set", "runtime.sim_fire_drill=false", "--set", "runtime.publish_every_s=0.3",
        "--set", "runtime.kill_switch_poll_s=0.2",
        "--set", "strategy.name=sma_cross", "--set", "strategy.params.fast=3", "--set", "strategy.params.slow=8",
        "--set", "runtime.warmup_bars=30"]


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env["TRADEWARDEN_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture
def session(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [sys.executable, "-m", "tradewarden.cli.main", "run", *ARGS, "--out", str(tmp_path / "run")]
    with (tmp_path / "session.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env_for(tmp_path / "data"), stdout=log, stderr=subprocess.STDOUT)
    proc.log = tmp_path / "session.log"  # type: ignore[attr-defined]
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def wait_for(what: str, probe: Callable[[], T | None], proc: subprocess.Popen[bytes] | None = None,
             timeout_s: float = 120.0) -> T:
    """Poll until ``probe`` returns something; a session that exits meanwhile fails the test at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        if proc is not None and proc.poll() is not None:
            output = proc.log.read_text()[-3000:]  # type: ignore[attr-defined]
            pytest.fail(f"the session exited with {proc.returncode} while waiting for {what}:\n{output}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def status(data_dir: Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "tradewarden.cli.main", "status", "--json"],
                          env=env_for(data_dir), capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout)


def running(data_dir: Path) -> bool | None:
    if not (data_dir / "tradewarden.db").exists():
        return None
    _, report = status(data_dir)
    return True if report["bots"] and report["bots"][0]["bot"]["state"] == "running" else None


def acknowledged(client: TestClient, headers: dict[str, str], command_id: int) -> dict[str, Any] | None:
    body: dict[str, Any] = client.get(f"/api/v1/commands/{command_id}", headers=headers).json()
    return body if body["acknowledged"] else None


def test_a_running_paper_session_is_seen_and_steered(session: subprocess.Popen[bytes], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # opened once the bot runs: the bot migrates the new database first
    wait_for("the bot to run", lambda: running(data_dir), session)
    db = Database.open(None, data_dir)
    client = TestClient(create_app(db, data_dir))
    auth = {"Authorization": f"Bearer {tokens.create(db, 'ops', tokens.Role.OPERATOR, 0)}"}

    def bots() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = client.get("/api/v1/bots", headers=auth).json()
        return found or None

    bot = wait_for("the bot's row", bots, session)[0]
    assert bot["pid"] == session.pid and bot["state"] == "running" and bot["mode"] == "paper"
    key = bot_key(bot["id"])

    def position() -> dict[str, Any] | None:
        rows: list[dict[str, Any]] = client.get(f"/api/v1/bots/{key}/positions", headers=auth).json()
        return next((p for p in rows if p["symbol"] == "BTC/USDT" and p["qty"] not in ("0", "0E-8")
                     and float(p["qty"]) != 0), None)

    wait_for("an open position", position, session)
    first = client.get(f"/api/v1/bots/{key}/equity", headers=auth).json()
    wait_for("more equity samples", lambda: True if len(client.get(
        f"/api/v1/bots/{key}/equity", headers=auth).json()) > len(first) else None, session)
    for kind in ("EquitySample", "OrderPlaced", "Fill"):
        page = client.get(f"/api/v1/bots/{key}/events", headers=auth, params={"type": kind, "limit": 1}).json()
        assert [e["type"] for e in page["events"]] == [kind]

    code, report = status(data_dir)
    assert code == 0, report["problems"]
    (mine,) = report["bots"]
    assert mine["bot"]["state"] == "running" and mine["equity"] is not None and mine["uptime_s"] is not None
    assert [p["symbol"] for p in mine["symbols"]] == ["BTC/USDT"]

    # pause entries, then resume: the risk book carries them out and marks them handled
    paused = client.post("/api/v1/commands/pause", headers=auth, json={"reason": "test"}).json()
    done = wait_for("the pause's acknowledgement", lambda: acknowledged(client, auth, paused["id"]), session)
    assert done["outcome"].startswith("entries paused")
    risk = client.get("/api/v1/risk", headers=auth).json()
    assert any(b["name"] == "paused" and b["tripped"] and b["action"] == "REDUCING" for b in risk["breakers"])
    resumed = client.post("/api/v1/commands/resume", headers=auth, json={"reason": "test"}).json()
    done = wait_for("the resume's acknowledgement", lambda: acknowledged(client, auth, resumed["id"]), session)
    assert done["outcome"].startswith("entries resumed")

    # close the position: a reduce-only market order from the node, acknowledged with what it did
    wait_for("an open position", position, session)
    closing = client.post("/api/v1/commands/close-position", headers=auth,
                          json={"symbol": "BTC/USDT", "reason": "test"}).json()
    done = wait_for("the close's acknowledgement", lambda: acknowledged(client, auth, closing["id"]), session)
    assert done["outcome"].startswith(("closing BTC/USDT", "no position in BTC/USDT")), done["outcome"]

    def close_order() -> dict[str, Any] | None:
        events = client.get(f"/api/v1/bots/{key}/events", headers=auth,
                            params={"type": "OrderPlaced", "limit": 500}).json()["events"]
        return next((e for e in events if e["record"]["client_id"].startswith(f"tw-op-{closing['id']}-")), None)

    if done["outcome"].startswith("closing"):
        placed = wait_for("the close order's event", close_order, session)
        assert placed["record"]["reduce_only"] is True and placed["record"]["order_type"] == "market"

    # the kill switch through the API: the bot acknowledges under its published id and halts
    on = client.post("/api/v1/kill-switch", headers=auth, json={"active": True, "reason": "e2e"}).json()

    def ack() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/api/v1/kill-switch/{on['event_id']}", headers=auth).json()
        return body if body["acknowledged"] else None

    assert wait_for("the kill switch's acknowledgement", ack, session)["acknowledged_by"] == [bot["id"]]
    risk = client.get("/api/v1/risk", headers=auth).json()
    assert risk["kill_switch"] is True and risk["trading_states"].get("global") == "HALTED", risk
    code, report = status(data_dir)
    assert code != 0 and any("kill switch is on" in p for p in report["problems"])

    session.send_signal(signal.SIGTERM)
    assert session.wait(timeout=120) == 0
    _, report = status(data_dir)
    assert report["bots"][0]["bot"]["state"] == "stopped"
    db.close()


def test_a_killed_session_reads_as_lost(session: subprocess.Popen[bytes], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    wait_for("the bot to run", lambda: running(data_dir), session)
    session.send_signal(signal.SIGKILL)
    session.wait()

    def lost() -> tuple[int, dict[str, Any]] | None:
        code, report = status(data_dir)
        return (code, report) if report["bots"][0]["bot"]["state"] == "lost" else None

    code, report = wait_for("the stale heartbeat", lost)
    assert code != 0 and any("heartbeat lost" in p for p in report["problems"])
