"""The agent rotates an instance's log (``logs/instance-<id>.log``) by size like the bot's own log: the earlier
runs' output when it starts the instance, and the running child's output while it runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tradewarden.domain.instances import DesiredState, InstanceRole
from tradewarden.fleet import agent as agent_module
from tradewarden.fleet.agent import Agent, AgentSettings
from tradewarden.fleet.supervise import Act
from tradewarden.persistence import Database
from tradewarden.persistence import instance_repo as instances
from tradewarden.persistence.fleet_repo import InstanceView

DEADLINE_S = 30.0


def quiet_child(instance: InstanceView, host: str, **_: object) -> list[str]:
    """Stands in for ``instance run``: a child that runs until it is stopped (the test writes its output)."""
    return [sys.executable, "-c", "import time; time.sleep(60)"]


def test_an_instance_log_is_rotated_at_start_and_while_it_runs(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_module, "instance_command", quiet_child)
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o700)
    with Database.open(None, tmp_path / "data") as db:
        inst = instances.register_instance(db, "binance", InstanceRole.MARKET_DATA, "box-l",
                                           desired=DesiredState.RUNNING)
        path = logs / f"instance-{inst.id}.log"
        path.write_bytes(b"earlier run\n" * 100)  # 1200 bytes from earlier runs
        agent = Agent(db, "box-l", logs, AgentSettings(log_max_bytes=1000, log_backups=2))
        agent.start()
        try:
            assert [d.act for _, d in agent.tick()] == [Act.SPAWN]
            assert (logs / f"{path.name}.1").read_bytes() == b"earlier run\n" * 100
            assert path.read_bytes().startswith(b"--- ")  # the agent's line for this start, on a fresh file
            with path.open("ab") as child_output:  # what the running child writes
                child_output.write(b"running\n" * 200)
            assert [d.act for _, d in agent.tick()] == [Act.NOTHING]
            assert (logs / f"{path.name}.1").read_bytes().endswith(b"running\n" * 200)
            assert (logs / f"{path.name}.2").read_bytes() == b"earlier run\n" * 100
            assert path.stat().st_size == 0
            assert sorted(p.name for p in logs.iterdir()) == [path.name, f"{path.name}.1", f"{path.name}.2"]
        finally:
            instances.set_desired(db, inst.id, DesiredState.STOPPED, actor="test", reason="done")
            deadline = time.monotonic() + DEADLINE_S
            while any(d.act is not Act.NOTHING or d.reason != "stopped, as desired" for _, d in agent.tick()):
                assert time.monotonic() < deadline, "the child did not stop"
                time.sleep(0.05)
            agent.stop()
