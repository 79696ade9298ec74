"""An instance whose ``instance run`` exits 2 (bad input: the registry or the config) is not restarted: the
agent records ``error`` with the child's own reason and sets it desired ``stopped``, so it stays stopped until
the operator wants it again (Connect, ``instance start``), when it is started at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tradewarden.domain.instances import DesiredState, InstanceRole, InstanceState
from tradewarden.fleet.agent import Agent, AgentSettings
from tradewarden.fleet.supervise import Act, SuperviseSettings
from tradewarden.persistence import Database
from tradewarden.persistence import instance_repo as instances

pytestmark = pytest.mark.slow

DEADLINE_S = 60.0
# restarts as fast as possible: without the hold, the agent would start it again on the next tick
FAST = AgentSettings(poll_s=0.05, supervise=SuperviseSettings(backoff_s=0.01, backoff_max_s=0.01))


def test_an_instance_that_exits_2_goes_to_error_and_stays_stopped_until_started_again(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("bogus = [\n")
    with Database.open(None, tmp_path / "data") as db:
        inst = instances.register_instance(db, "binance", InstanceRole.MARKET_DATA, "box-s",
                                           desired=DesiredState.RUNNING)
        agent = Agent(db, "box-s", tmp_path / "logs", FAST, config=bad)
        agent.start()
        try:
            spawns = 0
            deadline = time.monotonic() + DEADLINE_S
            while instances.get_instance(db, inst.id).desired is DesiredState.RUNNING:
                assert time.monotonic() < deadline, "the child's exit was never collected"
                spawns += sum(1 for _, d in agent.tick() if d.act is Act.SPAWN)
                time.sleep(0.05)
            held = instances.get_instance(db, inst.id)
            assert held.state is InstanceState.ERROR
            assert held.last_error is not None and held.last_error.startswith("setup error (exit 2): ")
            assert "bad.toml" in held.last_error and "TOML" in held.last_error  # the child's own line
            for _ in range(10):  # well past any backoff: it stays stopped
                assert [d.act for _, d in agent.tick()] == [Act.NOTHING]
                time.sleep(0.02)
            assert spawns == 1
            # the operator fixed nothing but presses Connect: it is started again at once
            instances.set_desired(db, inst.id, DesiredState.RUNNING, actor="operator", reason="Connect")
            assert [d.act for _, d in agent.tick()] == [Act.SPAWN]
        finally:
            agent.stop()
        feed = [(e.kind, e.reason) for e in instances.instance_events(db, instance_id=inst.id)]
        assert ("desired", f"{held.last_error}; fix it, then Connect (or `instance start`)") in feed
