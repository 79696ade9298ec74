"""The agent in this process, against instances it did not start: one that died in a running state is recorded
as ended when it should be stopped, and a live one started by hand is stopped (SIGTERM) when its desired state
says so. (Starting, restarting and stopping its own children: tests/fleet/test_agent_e2e.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tradewarden.domain.instances import DesiredState, InstanceRole, InstanceState
from tradewarden.fleet.agent import Agent, AgentSettings
from tradewarden.fleet.supervise import Act
from tradewarden.persistence import Database
from tradewarden.persistence import instance_repo as instances
from tradewarden.persistence.fleet_agents import list_agents

HERE = Path(__file__).resolve().parent
DEADLINE_S = 60.0
S = InstanceState


@pytest.fixture
def db(db_url: str | None, tmp_path: Path) -> Database:
    return Database.open(db_url, tmp_path / "data")


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def test_an_instance_that_died_running_is_recorded_as_ended_when_it_should_stop(db: Database,
                                                                                 tmp_path: Path) -> None:
    inst = instances.register_instance(db, "binance", InstanceRole.MARKET_DATA, "box-r")
    gone = dead_pid()
    instances.transition(db, inst.id, S.STARTING, "test", pid=gone)
    instances.transition(db, inst.id, S.ACTIVE, "test")
    agent = Agent(db, "box-r", tmp_path / "logs", AgentSettings(heartbeat_s=0.001, stale_s=0.002))
    agent.start()
    try:
        time.sleep(0.01)  # the heartbeat written at starting goes stale
        [(instance_id, decision)] = agent.tick()
        assert (instance_id, decision.act) == (inst.id, Act.RETIRE)
        after = instances.get_instance(db, inst.id)
        assert (after.state, after.last_error) == (S.ERROR, f"pid {gone} died without stopping")
        assert agent.tick()[0][1].act is Act.NOTHING
        assert [a.host for a in list_agents(db)] == ["box-r"]
    finally:
        agent.stop()
    assert list_agents(db) == []  # released


@pytest.mark.slow
def test_an_instance_run_by_hand_is_left_alone_until_desired_stopped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_")}
    env |= {"TRADEWARDEN_DATA_DIR": str(data), "TRADEWARDEN_FLEET__HEARTBEAT_S": "0.2",
            "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main", "instance", "run", "--exchange", "binance",
                             "--host", "box-h", "--work", "instance_works:steady_work"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with Database.open(None, data) as db:
            deadline = time.monotonic() + DEADLINE_S
            while not [i for i in instances.list_instances(db) if i.state is S.ACTIVE]:
                assert proc.poll() is None and time.monotonic() < deadline, "the instance never became active"
                time.sleep(0.1)
            [inst] = instances.list_instances(db)
            assert inst.desired is DesiredState.RUNNING  # run by hand: wanted while it runs
            agent = Agent(db, "box-h", tmp_path / "logs")
            agent.start()
            try:
                [(_, decision)] = agent.tick()
                assert decision.act is Act.NOTHING and "not started by this agent" in decision.reason
                instances.set_desired(db, inst.id, DesiredState.STOPPED, actor="operator", reason="Stop")
                [(_, decision)] = agent.tick()
                assert (decision.act, decision.pid) == (Act.TERM, proc.pid)
                assert proc.wait(timeout=DEADLINE_S) == 0
                assert instances.get_instance(db, inst.id).state is S.STOPPED
                assert agent.tick()[0][1].act is Act.NOTHING
            finally:
                agent.stop()
            notes = [e.reason for e in instances.instance_events(db, instance_id=inst.id) if e.kind == "note"]
            assert notes == [f"SIGTERM to pid {proc.pid}: desired stopped: stopping the process that runs it"]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
