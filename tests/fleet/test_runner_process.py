"""``tradewarden instance run`` as a process (the command the agent starts), with a test work: it reaches
active, a second claim on the same exchange from another host is refused with exit 3 naming the holder,
SIGTERM stops it cleanly (exit 0, ``stopped``, lease released), and a failing work ends in ``error`` with its
one-line message and exit 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tradewarden.domain.instances import InstanceState
from tradewarden.persistence import Database
from tradewarden.persistence import instance_repo as instances
from tradewarden.persistence.fleet_repo import InstanceView

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
DEADLINE_S = 60.0


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_")}
    env["TRADEWARDEN_DATA_DIR"] = str(data_dir)
    env["TRADEWARDEN_FLEET__HEARTBEAT_S"] = "0.2"
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    return env


def instance_run(host: str, work: str = "steady_work") -> list[str]:
    return [sys.executable, "-m", "tradewarden.cli.main", "instance", "run", "--exchange", "binance_us",
            "--host", host, "--symbols", "BTC/USDT,ETH/USDT", "--timeframes", "1m,1h", "--work",
            f"instance_works:{work}"]


def wait_for(db: Database, check: Callable[[list[InstanceView]], bool], what: str,
             proc: subprocess.Popen[str] | None = None) -> list[InstanceView]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        found = instances.list_instances(db)
        if check(found):
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the instance exited ({proc.returncode}) before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {found}")
        time.sleep(0.1)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def test_an_instance_process_serves_refuses_a_second_claim_and_stops_on_sigterm(data_dir: Path) -> None:
    env = environment(data_dir)
    proc = subprocess.Popen(instance_run("box-a"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        with Database.open(None, data_dir) as db:
            [inst] = wait_for(db, lambda rows: len(rows) == 1 and rows[0].state is InstanceState.ACTIVE,
                              "active", proc)
            assert (inst.pid, inst.symbols, inst.timeframes) == (proc.pid, ("BTC/USDT", "ETH/USDT"), ("1m", "1h"))
            assert inst.progress.candles_done == inst.progress.candles_total == 400

            second = subprocess.run(instance_run("box-b"), env=env, capture_output=True, text=True,
                                    timeout=DEADLINE_S)
            assert second.returncode == 3, second.stdout + second.stderr
            said = " ".join(second.stderr.split())
            assert f"binance_us market_data is already served: pid {proc.pid} on box-a since" in said
            assert "Traceback" not in said

            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=DEADLINE_S)
            assert proc.returncode == 0, out + err
            assert f"instance {inst.id} stopped (SIGTERM received)" in out
            after = instances.get_instance(db, inst.id)
            assert after.state is InstanceState.STOPPED
            # run by hand: desired running while it ran (so an agent leaves it alone), stopped after
            feed = [(e.kind, e.to_state, e.reason) for e in instances.instance_events(db, instance_id=inst.id)]
            assert ("desired", "running", "`instance run` by hand") in feed
            assert feed[-3:] == [("transition", "stopping", "SIGTERM received"), ("transition", "stopped", "stopped"),
                                 ("desired", "stopped", "`instance run` by hand stopped (SIGTERM received)")]
            # released: box-b may claim now (it is refused no more; its own work then fails fast)
            third = subprocess.run(instance_run("box-b", "failing_work"), env=env, capture_output=True,
                                   text=True, timeout=DEADLINE_S)
            assert third.returncode == 1, third.stdout + third.stderr
            failed = next(i for i in instances.list_instances(db) if i.host == "box-b")
            assert failed.state is InstanceState.ERROR
            assert failed.last_error == "ConnectionError: binance_us refused the connection"
            assert "failed: ConnectionError: binance_us refused the connection" in " ".join(third.stderr.split())
            assert "second line" not in third.stdout + third.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
