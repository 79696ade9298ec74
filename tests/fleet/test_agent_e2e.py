"""The agent and its instances as real processes on the real PostgreSQL: Connect (desired running) → the agent
starts ``tradewarden instance run`` → active; a second claim on the exchange from another host is refused with
exit 3 naming the holder; the instance is SIGKILLed → it shows lost, its lease expires, the agent restarts it
(noted in the activity feed) and the new process takes the instance over → active; Stop (desired stopped) →
the agent stops it → stopped, lease released.

Only the work differs between the two variants: ``steady`` runs a test work (``instance_works.py``) and needs
no exchange; ``market_data`` runs the real market-data work against an in-process simulator and Redis, and is
skipped until ``tradewarden.fleet.market_data`` is part of the build (fleet-md's branch; the lead completes
its checks on merge: the cache key asserted below follows the agreed layout).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from tradewarden.domain.instances import LOST, DesiredState, InstanceRole, InstanceState
from tradewarden.fleet.runner import lease_key
from tradewarden.persistence import Database
from tradewarden.persistence import fleet_repo as fleet
from tradewarden.persistence import instance_repo as instances
from tradewarden.persistence.fleet_agents import list_agents
from tradewarden.persistence.fleet_repo import InstanceView
from tradewarden.persistence.runtime_models import AccountLeaseRow

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

HERE = Path(__file__).resolve().parent
DEADLINE_S = 90.0
STALE_S = 1.0
SYMBOLS = ("BTC/USDT",)
TIMEFRAMES = ("1m",)
#: short periods so that staleness, expiry and backoff take a second or two, not the defaults' tens
FAST = {"TRADEWARDEN_FLEET__HEARTBEAT_S": "0.2", "TRADEWARDEN_FLEET__STALE_S": str(STALE_S),
        "TRADEWARDEN_FLEET__LEASE_TTL_S": "2", "TRADEWARDEN_FLEET__AGENT_POLL_S": "0.2",
        "TRADEWARDEN_FLEET__RESTART_BACKOFF_S": "0.2", "TRADEWARDEN_FLEET__STOP_GRACE_S": "10"}


@dataclass
class Work:
    """What differs between the variants: the work's options and environment, the exchange's URLs, and what
    an active instance must have done besides being active."""

    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    rest_url: str | None = None
    ws_url: str | None = None
    served: Callable[[Database, InstanceView], None] = lambda db, inst: None


def _steady() -> Iterator[Work]:
    yield Work(["--work", "instance_works:steady_work"], {"PYTHONPATH": os.pathsep.join(
        [str(HERE), os.environ.get("PYTHONPATH", "")])})


def _market_data() -> Iterator[Work]:
    if importlib.util.find_spec("tradewarden.fleet.market_data") is None:
        pytest.skip("tradewarden.fleet.market_data lands with the fleet-md branch")
    import redis

    from tradewarden.simulator.testing import start_simulator

    url = "redis://127.0.0.1:6379/0"

    def cached(db: Database, inst: InstanceView) -> None:
        key = f"candles:{inst.exchange_id}:{SYMBOLS[0].replace('/', '')}:{TIMEFRAMES[0]}"
        assert redis.Redis.from_url(url).exists(key), f"{key} is not in Redis"

    with start_simulator(symbols=list(SYMBOLS), speed=60.0) as sim:
        host = sim.base_url.removeprefix("http://")
        yield Work([], {"TRADEWARDEN_REDIS__URL": url}, f"{sim.base_url}/api/v3", f"ws://{host}/stream/ws", cached)


@pytest.fixture(params=["steady", "market_data"])
def work(request: pytest.FixtureRequest) -> Iterator[Work]:
    yield from (_steady() if request.param == "steady" else _market_data())


def wait_for(db: Database, instance_id: int, check: Callable[[InstanceView, str], bool], what: str,
             agent: subprocess.Popen[bytes]) -> InstanceView:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        inst = instances.get_instance(db, instance_id)
        if check(inst, inst.shown(fleet.db_now_ms(db), round(STALE_S * 1000))):
            return inst
        if agent.poll() is not None:
            raise AssertionError(f"the agent exited ({agent.returncode}) before {what}")
        if time.monotonic() > deadline:
            feed = [(e.kind, e.to_state, e.reason) for e in instances.instance_events(db, instance_id=instance_id)]
            raise AssertionError(f"timed out waiting for {what}: {inst}\n{feed}")
        time.sleep(0.1)


def lease_expires_ms(db: Database, key: str) -> int | None:
    with db.session() as s:
        return s.scalars(select(AccountLeaseRow.expires_ms).where(AccountLeaseRow.account_key == key)).one_or_none()


def test_the_agent_keeps_an_instance_as_desired_through_a_kill(pg_url: str, tmp_path: Path, work: Work) -> None:
    host, other = f"e2e-{secrets.token_hex(4)}", f"e2e-other-{secrets.token_hex(4)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_")}
    env |= FAST | work.env | {"TRADEWARDEN_DATABASE__URL": pg_url, "TRADEWARDEN_DATA_DIR": str(tmp_path / "data")}
    cli = [sys.executable, "-m", "tradewarden.cli.main"]
    db = Database.open(pg_url, tmp_path)
    exchange = fleet.add_exchange(db, "e2e_x", "binance", rest_url=work.rest_url, ws_url=work.ws_url)
    inst = instances.register_instance(db, "e2e_x", InstanceRole.MARKET_DATA, host, symbols=SYMBOLS,
                                       timeframes=TIMEFRAMES)
    instances.set_desired(db, inst.id, DesiredState.RUNNING, actor="operator", reason="Connect")
    agent_log = (tmp_path / "agent.log").open("wb")
    agent = subprocess.Popen([*cli, "agent", "--host", host, *work.args], env=env, stdout=agent_log,
                             stderr=subprocess.STDOUT)
    try:
        first = wait_for(db, inst.id, lambda i, shown: shown == "active", "active", agent)
        work.served(db, first)
        assert [a.host for a in list_agents(db) if a.alive] == [host]

        # another host's claim on the same exchange and role is refused, naming the holder
        second = subprocess.run([*cli, "instance", "run", "--exchange", "e2e_x", "--host", other, *work.args],
                                env=env, capture_output=True, text=True, timeout=DEADLINE_S)
        assert second.returncode == 3, second.stdout + second.stderr
        assert f"already served: pid {first.pid} on {host} since" in " ".join(second.stderr.split())

        # SIGKILL the instance while its agent is paused, so each step can be seen: lost, then the lease expires
        os.kill(agent.pid, signal.SIGSTOP)
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        wait_for(db, inst.id, lambda i, shown: shown == LOST, "lost", agent)
        key = lease_key(exchange.id, InstanceRole.MARKET_DATA)
        deadline = time.monotonic() + DEADLINE_S
        while (expires := lease_expires_ms(db, key)) is not None and expires > fleet.db_now_ms(db):
            assert time.monotonic() < deadline, "the dead instance's lease never expired"
            time.sleep(0.1)
        os.kill(agent.pid, signal.SIGCONT)

        # the agent sees its child died and restarts it; the new process takes the instance over
        again = wait_for(db, inst.id, lambda i, shown: shown == "active" and i.pid != first.pid,
                         "active again", agent)
        work.served(db, again)
        feed = [(e.kind, e.to_state, e.reason, e.actor) for e in instances.instance_events(db, instance_id=inst.id)]
        notes = [reason for kind, _, reason, _ in feed if kind == "note"]
        assert f"pid {first.pid} was killed by SIGKILL; restart 1 in 0.2 s" in notes
        assert any(n.startswith(f"started pid {again.pid} (restart 1)") for n in notes)
        assert ("transition", "starting", f"taken over from pid {first.pid}", f"agent@{host}") in feed
        log_file = tmp_path / "data" / "logs" / f"instance-{inst.id}.log"
        assert log_file.read_text().count(f"agent on {host}:") == 2

        # Stop: the agent sends SIGTERM, the instance records stopping → stopped and releases its lease
        instances.set_desired(db, inst.id, DesiredState.STOPPED, actor="operator", reason="Stop")
        stopped = wait_for(db, inst.id, lambda i, shown: i.state is InstanceState.STOPPED, "stopped", agent)
        assert lease_expires_ms(db, key) is None
        assert stopped.pid == again.pid
        events = instances.instance_events(db, instance_id=inst.id)
        moved = [(e.to_state, e.reason) for e in events if e.kind == "transition"]
        assert moved[-2:] == [("stopping", "SIGTERM received"), ("stopped", "stopped")]
        assert f"SIGTERM to pid {again.pid}: desired stopped" in [e.reason for e in events if e.kind == "note"]
    finally:
        if agent.poll() is None:
            os.kill(agent.pid, signal.SIGCONT)
            agent.terminate()
            agent.wait(timeout=DEADLINE_S)
        agent_log.close()
        for row in instances.list_instances(db):
            if row.pid is not None and row.state.is_running:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(row.pid, signal.SIGKILL)
        db.close()
    assert agent.returncode == 0, (tmp_path / "agent.log").read_text()
