"""The agent and its instances as real processes on the real PostgreSQL: Connect (desired running) → the agent
starts ``tradewarden instance run`` → active; a second claim on the exchange from another host is refused with
exit 3 naming the holder; the instance is SIGKILLed → it shows lost, its lease expires, the agent restarts it
(noted in the activity feed) and the new process takes the instance over → active; Stop (desired stopped) →
the agent stops it → stopped, lease released.

The two variants differ in their work and fleet: ``steady`` runs a test work (``instance_works.py``) on an
exchange of its own and needs no exchange; ``market_data`` is the issue's e2e: the real market-data work, the
seeded ``binance`` and ``binance_us`` rows pointed at two simulators, real Redis (db 15, a prefix of its own,
cleared afterwards). Once the agent's first instance (binance) is active, it runs three instances as separate
processes: binance_us by the same agent, a third exchange's on another host by hand (``instance run``); each
reaches active and keeps its cache series fresh (its ``updated`` moves on), and a paper trading bot
(``market.warmup_from_cache``) warms up from binance's series without one klines request of its own
(test_market_data_bot.py's session and checks). After the kill the restarted instance's series is fresh again.
"""

from __future__ import annotations

import contextlib
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
from tests.fleet.test_market_data_bot import assert_warmed_from_cache, paper_bot_from_cache

from tradewarden.domain.instances import LOST, DesiredState, InstanceRole, InstanceState
from tradewarden.fleet.runner import lease_key
from tradewarden.persistence import Database
from tradewarden.persistence import fleet_repo as fleet
from tradewarden.persistence import instance_repo as instances
from tradewarden.persistence.fleet_agents import list_agents
from tradewarden.persistence.fleet_repo import InstanceView
from tradewarden.persistence.runtime_models import AccountLeaseRow
from tradewarden.simulator.testing import SimulatorHandle

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
class Fleet:
    """What a variant's ``fleet`` step gets: the registry, the processes' environment and command, the hosts."""

    db: Database
    env: dict[str, str]
    cli: list[str]
    host: str
    other: str
    agent: subprocess.Popen[bytes]
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch


@dataclass
class Work:
    """What differs between the variants: the work's options and environment, the exchange the agent's instance
    serves (``setup`` points the registry at it), what an active instance must have done besides being active,
    and more of the fleet to run once that instance is active."""

    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    exchange: str = "e2e_x"
    setup: Callable[[Database], None] = lambda db: None
    served: Callable[[Database, InstanceView], None] = lambda db, inst: None
    fleet: Callable[[Fleet], None] = lambda f: None
    cleanup: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)


def _steady() -> Iterator[Work]:
    def setup(db: Database) -> None:
        fleet.add_exchange(db, "e2e_x", "binance")

    yield Work(["--work", "instance_works:steady_work"], {"PYTHONPATH": os.pathsep.join(
        [str(HERE), os.environ.get("PYTHONPATH", "")])}, setup=setup)


def _origin_and_stream(sim: SimulatorHandle) -> dict[str, str]:
    """The registry's URL form (docs/DATA.md, Shared candle cache): rest_url an origin, ws_url the stream URL."""
    return {"rest_url": sim.base_url, "ws_url": sim.base_url.replace("http://", "ws://") + "/stream/ws"}


def _market_data() -> Iterator[Work]:
    from tradewarden.data.cache import RedisCandleCache
    from tradewarden.data.sample import sample_1m_path
    from tradewarden.simulator.testing import start_simulator

    url, prefix = "redis://127.0.0.1:6379/15", f"e2e-{secrets.token_hex(5)}:candles"
    cache = RedisCandleCache(url, prefix=prefix)
    try:
        cache.ping()
    except Exception as exc:
        pytest.skip(f"Redis not reachable: {exc}")

    def fresh(exchange_id: int) -> None:
        """The series is complete and its writer keeps confirming it: ``updated`` moves on."""
        first = cache.status(exchange_id, "BTCUSDT", TIMEFRAMES[0])
        assert first.count == 1000 and first.updated_ms is not None, first
        deadline = time.monotonic() + DEADLINE_S
        while (now := cache.status(exchange_id, "BTCUSDT", TIMEFRAMES[0])).updated_ms == first.updated_ms:
            assert time.monotonic() < deadline, f"{first.series.key} is not kept fresh"
            time.sleep(0.2)
        assert now.updated_ms is not None and cache.now_ms() - now.updated_ms < 30_000

    with (start_simulator(data=sample_1m_path(), symbols=list(SYMBOLS), speed=60, seed=6, start_index=1100) as a,
          start_simulator(data=sample_1m_path(), symbols=list(SYMBOLS), speed=60, seed=7, start_index=1100) as b):

        def setup(db: Database) -> None:
            fleet.update_exchange(db, "binance", **_origin_and_stream(a))
            fleet.update_exchange(db, "binance_us", **_origin_and_stream(b))
            fleet.add_exchange(db, "e2e_third", "binance", **_origin_and_stream(b))  # one more venue on b

        def more(f: Fleet) -> None:
            us = instances.register_instance(f.db, "binance_us", InstanceRole.MARKET_DATA, f.host,
                                             symbols=SYMBOLS, timeframes=TIMEFRAMES)
            instances.set_desired(f.db, us.id, DesiredState.RUNNING, actor="operator", reason="Connect")
            log = work.cleanup.enter_context((f.tmp_path / "third.log").open("wb"))
            third = subprocess.Popen([*f.cli, "instance", "run", "--exchange", "e2e_third", "--host", f.other,
                                      "--symbols", ",".join(SYMBOLS), "--timeframes", ",".join(TIMEFRAMES)],
                                     env=f.env, stdout=log, stderr=subprocess.STDOUT)
            work.cleanup.callback(_terminate, third)
            for proc, inst_id in ((f.agent, us.id), (third, None)):
                if inst_id is None:
                    inst_id = _instance_of(f.db, f.other, proc)
                wait_for(f.db, inst_id, lambda i, shown: shown == "active", f"instance {inst_id} active", proc)
            running = [i for i in instances.list_instances(f.db) if i.state is InstanceState.ACTIVE]
            assert sorted((i.exchange, i.host) for i in running) == sorted(
                [("binance", f.host), ("binance_us", f.host), ("e2e_third", f.other)])
            assert len({i.pid for i in running}) == 3
            for inst in running:
                fresh(inst.exchange_id)
            binance = next(i for i in running if i.exchange == "binance")
            _, events = paper_bot_from_cache(a, {"data_dir": str(f.tmp_path / "bot"), "redis": {
                "url": url, "prefix": prefix}, "database": {"url": f.env["TRADEWARDEN_DATABASE__URL"]}},
                f.tmp_path, f.monkeypatch)
            assert_warmed_from_cache(a, events, f"{prefix}:{binance.exchange_id}:BTCUSDT:1m",
                                     {f"tradewarden-market-data/{binance.id}"})

        work = Work([], {"TRADEWARDEN_REDIS__URL": url, "TRADEWARDEN_REDIS__PREFIX": prefix}, "binance", setup,
                    lambda db, inst: fresh(inst.exchange_id), more)
        try:
            yield work
        finally:
            work.cleanup.close()
            for key in cache.client.scan_iter(f"{prefix}:*"):
                cache.client.delete(key)
            cache.close()


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _instance_of(db: Database, host: str, proc: subprocess.Popen[bytes]) -> int:
    """The id of the instance a process started by hand registers for ``host``."""
    deadline = time.monotonic() + DEADLINE_S
    while not (found := instances.list_instances(db, host=host)):
        assert proc.poll() is None, f"pid {proc.pid} exited ({proc.returncode})"
        assert time.monotonic() < deadline, f"no instance registered for {host}"
        time.sleep(0.1)
    return found[0].id


@pytest.fixture(params=["steady", "market_data"])
def work(request: pytest.FixtureRequest) -> Iterator[Work]:
    yield from (_steady() if request.param == "steady" else _market_data())


def wait_for(db: Database, instance_id: int, check: Callable[[InstanceView, str], bool], what: str,
             proc: subprocess.Popen[bytes]) -> InstanceView:
    """The instance once ``check(instance, shown state)`` holds; fails when ``proc`` (the agent, or an instance
    run by hand) exits first."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        inst = instances.get_instance(db, instance_id)
        if check(inst, inst.shown(fleet.db_now_ms(db), round(STALE_S * 1000))):
            return inst
        if proc.poll() is not None:
            raise AssertionError(f"pid {proc.pid} exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            feed = [(e.kind, e.to_state, e.reason) for e in instances.instance_events(db, instance_id=instance_id)]
            raise AssertionError(f"timed out waiting for {what}: {inst}\n{feed}")
        time.sleep(0.1)


def lease_expires_ms(db: Database, key: str) -> int | None:
    with db.session() as s:
        return s.scalars(select(AccountLeaseRow.expires_ms).where(AccountLeaseRow.account_key == key)).one_or_none()


def test_the_agent_keeps_an_instance_as_desired_through_a_kill(pg_url: str, tmp_path: Path, work: Work,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    host, other = f"e2e-{secrets.token_hex(4)}", f"e2e-other-{secrets.token_hex(4)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_")}
    env |= FAST | work.env | {"TRADEWARDEN_DATABASE__URL": pg_url, "TRADEWARDEN_DATA_DIR": str(tmp_path / "data")}
    cli = [sys.executable, "-m", "tradewarden.cli.main"]
    db = Database.open(pg_url, tmp_path)
    work.setup(db)
    exchange = fleet.get_exchange(db, work.exchange)
    inst = instances.register_instance(db, work.exchange, InstanceRole.MARKET_DATA, host, symbols=SYMBOLS,
                                       timeframes=TIMEFRAMES)
    instances.set_desired(db, inst.id, DesiredState.RUNNING, actor="operator", reason="Connect")
    agent_log = (tmp_path / "agent.log").open("wb")
    agent = subprocess.Popen([*cli, "agent", "--host", host, *work.args], env=env, stdout=agent_log,
                             stderr=subprocess.STDOUT)
    try:
        first = wait_for(db, inst.id, lambda i, shown: shown == "active", "active", agent)
        work.served(db, first)
        assert [a.host for a in list_agents(db) if a.alive] == [host]
        work.fleet(Fleet(db, env, cli, host, other, agent, tmp_path, monkeypatch))

        # another host's claim on the same exchange and role is refused, naming the holder
        second = subprocess.run([*cli, "instance", "run", "--exchange", work.exchange, "--host", other, *work.args],
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
        # the runner records stopped, then releases the lease (a moment later)
        deadline = time.monotonic() + DEADLINE_S
        while lease_expires_ms(db, key) is not None:
            assert time.monotonic() < deadline, "the stopped instance kept its lease"
            time.sleep(0.1)
        assert stopped.pid == again.pid
        events = instances.instance_events(db, instance_id=inst.id)
        moved = [(e.to_state, e.reason) for e in events if e.kind == "transition"]
        assert moved[-2:] == [("stopping", "SIGTERM received"), ("stopped", "stopped")]
        assert f"SIGTERM to pid {again.pid}: desired stopped" in [e.reason for e in events if e.kind == "note"]
    finally:
        work.cleanup.close()  # the instance run by hand, while the registry is still there
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
