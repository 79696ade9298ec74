"""The agent runs a trading instance beside a market-data instance, as real processes on the real PostgreSQL and
Redis with the registry's exchange pointed at the simulator: Connect on the market-data instance → active (the
cache is warm); Connect on the trading instance → active, its paper bot warmed up from the shared cache without a
klines request of its own; Stop → the agent SIGTERMs the instance, which stops its bot: ``stopped``, bot gone."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import REDIS_TEST_URL
from tests.fleet.test_market_data_bot import assert_warmed_from_cache
from tests.fleet.test_trading import journal

from tradewarden.data.sample import sample_1m_path
from tradewarden.domain.instances import DesiredState, InstanceRole, InstanceState
from tradewarden.persistence import Database
from tradewarden.persistence import fleet_repo as fleet
from tradewarden.persistence import instance_repo as instances
from tradewarden.persistence.fleet_repo import InstanceView
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

DEADLINE_S = 120.0


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(data=sample_1m_path(), symbols=["BTC/USDT"], speed=60, seed=8, start_index=1100) as handle:
        yield handle


def wait_for(db: Database, instance_id: int, check: Callable[[InstanceView], bool], what: str,
             agent: subprocess.Popen[bytes], log: Path) -> InstanceView:
    deadline = time.monotonic() + DEADLINE_S
    while not check(inst := instances.get_instance(db, instance_id)):
        if agent.poll() is not None:
            raise AssertionError(f"the agent exited ({agent.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            feed = [(e.kind, e.to_state, e.reason) for e in instances.instance_events(db, instance_id=instance_id)]
            raise AssertionError(f"timed out waiting for {what}: {inst}\n{feed}")
        time.sleep(0.2)
    return inst


def test_the_agent_runs_a_trading_instance_that_warms_up_from_the_cache(
        sim: SimulatorHandle, pg_url: str, cache_prefix: str, tmp_path: Path) -> None:
    host = f"trade-{secrets.token_hex(4)}"
    data_dir = tmp_path / "data"
    db = Database.open(pg_url, tmp_path)
    exchange = fleet.add_exchange(db, "simtr", "binance", rest_url=sim.base_url,
                                  ws_url=sim.base_url.replace("http://", "ws://") + "/stream/ws")
    fleet.add_user(db, "bo")
    account = fleet.link_account(db, "bo", "simtr", "bo paper", api_key_env="BO_KEY", api_secret_env="BO_SECRET")
    md = instances.register_instance(db, "simtr", InstanceRole.MARKET_DATA, host, symbols=["BTC/USDT"],
                                     timeframes=["1m"])
    trading = instances.register_instance(db, "simtr", InstanceRole.TRADING, host, symbols=["BTC/USDT"],
                                          user_exchange_id=account.id)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_") and k != "LIVE_TRADING"}
    env |= {"TRADEWARDEN_DATABASE__URL": pg_url, "TRADEWARDEN_DATA_DIR": str(data_dir),
            "TRADEWARDEN_REDIS__URL": REDIS_TEST_URL, "TRADEWARDEN_REDIS__PREFIX": cache_prefix,
            "TRADEWARDEN_FLEET__HEARTBEAT_S": "0.2", "TRADEWARDEN_FLEET__AGENT_POLL_S": "0.2",
            "TRADEWARDEN_FLEET__STOP_GRACE_S": "20", "TRADEWARDEN_MARKET__TIMEFRAME": "1m",
            "TRADEWARDEN_STRATEGY__NAME": "sma_cross", "TRADEWARDEN_STRATEGY__PARAMS": "{fast = 3, slow = 8}",
            "TRADEWARDEN_RUNTIME__WARMUP_BARS": "30", "BO_KEY": "unused-on-paper", "BO_SECRET": "unused-on-paper"}
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        agent = subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main", "agent", "--host", host], env=env,
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        instances.set_desired(db, md.id, DesiredState.RUNNING, actor="operator", reason="Connect")
        wait_for(db, md.id, lambda i: i.state is InstanceState.ACTIVE, "market data active", agent, log)
        instances.set_desired(db, trading.id, DesiredState.RUNNING, actor="operator", reason="Connect")
        active = wait_for(db, trading.id, lambda i: i.state is InstanceState.ACTIVE, "trading active", agent, log)
        warming = next(e.reason for e in instances.instance_events(db, instance_id=trading.id)
                       if e.to_state == "warming")
        bot_pid = int(warming.split()[2])
        run_dir = Path(warming.split("run directory ", 1)[1])
        assert_warmed_from_cache(sim, journal(run_dir), f"{cache_prefix}:{exchange.id}:BTCUSDT:1m",
                                 {f"tradewarden-market-data/{md.id}"})

        instances.set_desired(db, trading.id, DesiredState.STOPPED, actor="operator", reason="Stop")
        stopped = wait_for(db, trading.id, lambda i: i.state is InstanceState.STOPPED, "trading stopped", agent,
                           log)
        assert stopped.pid == active.pid
        deadline = time.monotonic() + DEADLINE_S
        while True:  # the instance reaps its bot before it records stopped; the agent reaps the instance
            try:
                os.kill(bot_pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, f"bot pid {bot_pid} outlived its instance"
            time.sleep(0.1)
        assert [e["type"] for e in journal(run_dir)].count("RunFinished") == 1
        assert instances.get_instance(db, md.id).state is InstanceState.ACTIVE  # the other instance goes on
    finally:
        agent.terminate()
        agent.wait(timeout=DEADLINE_S)
        for row in instances.list_instances(db):
            if row.pid is not None and row.state.is_running:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(row.pid, signal.SIGKILL)
        db.close()
