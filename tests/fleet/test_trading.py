"""``tradewarden instance run --role trading`` as a real process on the real PostgreSQL, its exchange in the
registry pointed at the simulator: the instance goes starting → warming → active, its bot (a child process)
trades on paper and publishes itself to the ops plane, SIGTERM stops both (instance ``stopped``, bot gone), and
an instance SIGKILLed alone takes its bot with it (the bot's SIGTERM from the kernel); a bot
that exits 2 on its configuration puts the instance in ``error`` with the bot's last line, and the instance exits
2; a live bot gets the account's key pair from the variables the account names, yet its own live gate still
refuses without ``--live-confirm`` (the instance exits 2: a restart would meet the same), and with the hash it
printed confirmed in ``fleet.trading_live_confirm`` the bot trades live on the simulator with the canary pair;
the canary appears in no log, journal, activity feed or registry row."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from tradewarden.data.sample import sample_1m_path
from tradewarden.domain.instances import InstanceState
from tradewarden.persistence import Database
from tradewarden.persistence import fleet_repo as fleet
from tradewarden.persistence import instance_repo as instances
from tradewarden.persistence.fleet_repo import InstanceView
from tradewarden.persistence.ops_models import BotRow
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DEADLINE_S = 120.0
KEY = f"canary-key-{secrets.token_hex(8)}"
SECRET = f"canary-secret-{secrets.token_hex(8)}"


@dataclass
class Setup:
    db: Database
    env: dict[str, str]
    account: int
    data_dir: Path
    log: Path


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(data=sample_1m_path(), symbols=["BTC/USDT"], speed=60, seed=5, start_index=1100,
                         api_keys={KEY: SECRET}) as handle:  # the only pair it accepts: the account's canary
        yield handle


@pytest.fixture
def setup(sim: SimulatorHandle, pg_url: str, tmp_path: Path) -> Iterator[Setup]:
    data_dir = tmp_path / "data"
    db = Database.open(pg_url, tmp_path)
    fleet.add_exchange(db, "simtr", "binance", rest_url=sim.base_url,
                       ws_url=sim.base_url.replace("http://", "ws://") + "/stream/ws")
    fleet.add_user(db, "ann")
    account = fleet.link_account(db, "ann", "simtr", "ann main", api_key_env="ANN_TEST_KEY",
                                 api_secret_env="ANN_TEST_SECRET")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_") and k != "LIVE_TRADING"}
    env |= {"TRADEWARDEN_DATABASE__URL": pg_url, "TRADEWARDEN_DATA_DIR": str(data_dir),
            "TRADEWARDEN_FLEET__HEARTBEAT_S": "0.2", "TRADEWARDEN_FLEET__STOP_GRACE_S": "20",
            "TRADEWARDEN_MARKET__TIMEFRAME": "1m", "TRADEWARDEN_STRATEGY__NAME": "sma_cross",
            "TRADEWARDEN_STRATEGY__PARAMS": "{fast = 3, slow = 8}", "TRADEWARDEN_RUNTIME__WARMUP_BARS": "30",
            "ANN_TEST_KEY": KEY, "ANN_TEST_SECRET": SECRET}
    try:
        yield Setup(db, env, account.id, data_dir, tmp_path / "instance.log")
    finally:
        for row in instances.list_instances(db):
            if row.pid is not None and row.state.is_running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(row.pid, signal.SIGKILL)  # the instance leads its group: its bot goes too
        db.close()


def start(s: Setup, **env: str) -> subprocess.Popen[bytes]:
    with s.log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main", "instance", "run", "--role", "trading",
                                 "--exchange", "simtr", "--account", str(s.account), "--host", "box-t",
                                 "--symbols", "BTC/USDT"], env=s.env | env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # as the agent starts it: its own process group


def wait_until(check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], s: Setup) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if proc.poll() is not None:
            raise AssertionError(f"the instance exited ({proc.returncode}) before {what}:\n{s.log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{s.log.read_text()}")
        time.sleep(0.2)


def the_instance(s: Setup) -> InstanceView:
    [inst] = instances.list_instances(s.db)
    return inst


def journal(run_dir: Path) -> list[dict[str, object]]:
    path = run_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def moves(s: Setup, inst: InstanceView) -> list[tuple[str | None, str]]:
    return [(e.to_state, e.reason) for e in instances.instance_events(s.db, instance_id=inst.id)
            if e.kind == "transition"]


def assert_no_canary(s: Setup) -> None:
    """Neither key nor secret in the instance's output, any file under the data directory (logs, the bot's
    journal and run files), the activity feed or the registry."""
    texts = {"instance output": s.log.read_text(errors="replace")}
    for path in s.data_dir.rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    texts["activity feed"] = repr(instances.instance_events(s.db))
    texts["registry"] = repr([instances.list_instances(s.db), fleet.list_accounts(s.db)])
    for where, text in texts.items():
        assert KEY not in text and SECRET not in text, f"a key canary in {where}"
    assert len(texts) > 3  # the bot wrote its files: there was something to search


def test_a_trading_instance_runs_a_paper_bot_until_sigterm(setup: Setup) -> None:
    s = setup
    proc = start(s)
    try:
        wait_until(lambda: the_instance(s).state is InstanceState.ACTIVE if instances.list_instances(s.db)
                   else False, "active", proc, s)
        inst = the_instance(s)
        assert inst.pid == proc.pid and inst.symbols == ("BTC/USDT",)
        states = [state for state, _ in moves(s, inst)]
        assert states == ["starting", "warming", "active"]
        warming = moves(s, inst)[1][1]
        bot_pid = int(warming.split()[2])  # "bot pid N started; run directory D"
        run_dir = Path(warming.split("run directory ", 1)[1])
        assert bot_pid != proc.pid and os.getpgid(bot_pid) == os.getpgid(proc.pid)
        # the bot trades on paper: an order placed on a closed candle, in its own journal
        wait_until(lambda: any(e["type"] == "OrderPlaced" for e in journal(run_dir)), "a paper order", proc, s)
        events = journal(run_dir)
        [started] = [e for e in events if e["type"] == "RunStarted"]
        assert started["mode"] == "paper" and started["symbols"] == ["BTC/USDT"]
        assert [e["candles"] for e in events if e["type"] == "WarmUpDone"] == [30]
        # the ops plane sees the bot (status, the API, the dashboard read this row)
        with s.db.session() as session:
            [bot] = session.scalars(select(BotRow)).all()
            assert (bot.pid, bot.mode, bot.state) == (bot_pid, "paper", "running")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=DEADLINE_S) == 0, s.log.read_text()
        inst = the_instance(s)
        assert inst.state is InstanceState.STOPPED
        assert [state for state, _ in moves(s, inst)][-2:] == ["stopping", "stopped"]
        with pytest.raises(ProcessLookupError):
            os.kill(bot_pid, 0)  # the bot is gone (reaped by the instance)
        finished = [e for e in journal(run_dir) if e["type"] == "RunFinished"]
        assert len(finished) == 1, s.log.read_text()
        with s.db.session() as session:
            assert session.scalars(select(BotRow.state)).all() == ["stopped"]
        assert "bot| " in s.log.read_text()  # the bot's output is the instance's
        assert_no_canary(s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_bot_that_exits_2_puts_the_instance_in_error_with_its_last_line(setup: Setup) -> None:
    s = setup
    proc = start(s, TRADEWARDEN_STRATEGY__NAME="no_such_strategy")
    assert proc.wait(timeout=DEADLINE_S) == 2, s.log.read_text()
    inst = the_instance(s)
    assert inst.state is InstanceState.ERROR
    assert inst.last_error is not None
    assert inst.last_error.startswith("BotSetupError: bot pid "), inst.last_error
    assert "exited with code 2" in inst.last_error and "unknown strategy 'no_such_strategy'" in inst.last_error
    assert [state for state, _ in moves(s, inst)] == ["starting", "warming", "error"]
    assert "Traceback" not in s.log.read_text()
    assert_no_canary(s)


def test_a_live_bot_is_refused_by_its_gate_until_confirmed_then_runs_on_the_accounts_keys(setup: Setup) -> None:
    s = setup
    live = {"TRADEWARDEN_FLEET__TRADING_MODE": "live", "LIVE_TRADING": "YES_I_UNDERSTAND"}
    proc = start(s, **live)
    assert proc.wait(timeout=DEADLINE_S) == 2, s.log.read_text()  # a restart would meet the same gate
    inst = the_instance(s)
    assert inst.state is InstanceState.ERROR and inst.last_error is not None
    assert inst.last_error.startswith("BotSetupError: bot pid "), inst.last_error
    assert "exited with code 3: live trading not armed: live trading needs --live-confirm" in inst.last_error
    run_dirs = list((s.data_dir / "instances").glob("trading-*/*-live"))
    [run_dir] = run_dirs
    [refusal] = [e for e in journal(run_dir) if e["type"] == "LIVE_ARM_FAILED"]
    assert refusal["reason"] == "CONFIRM_MISSING"
    # the operator confirms the hash the bot printed (the instance's last error shows it)
    confirm = inst.last_error.split("this config's hash: ", 1)[1].split()[0]
    proc = start(s, **live, TRADEWARDEN_FLEET__TRADING_LIVE_CONFIRM=confirm)
    try:
        wait_until(lambda: the_instance(s).state is InstanceState.ACTIVE, "active", proc, s)
        warming = moves(s, the_instance(s))[-2][1]
        run_dir = Path(warming.split("run directory ", 1)[1])
        events = journal(run_dir)
        [checks] = [e for e in events if e["type"] == "SAFETY_CHECKS"]
        assert (checks["mode"], checks["keys_present"]) == ("live", True)  # the simulator accepts only the canary
        with s.db.session() as session:
            assert session.scalars(select(BotRow.mode).where(BotRow.state == "running")).all() == ["live"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=DEADLINE_S) == 0, s.log.read_text()
        assert the_instance(s).state is InstanceState.STOPPED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_no_canary(s)


def test_an_instance_killed_alone_takes_its_bot_with_it(setup: Setup) -> None:
    s = setup
    proc = start(s)
    try:
        wait_until(lambda: bool(instances.list_instances(s.db)) and the_instance(s).state is InstanceState.ACTIVE,
                   "active", proc, s)
        warming = moves(s, the_instance(s))[1][1]
        run_dir = Path(warming.split("run directory ", 1)[1])
        os.kill(proc.pid, signal.SIGKILL)  # the instance only, not its process group
        proc.wait()
        deadline = time.monotonic() + DEADLINE_S
        # the kernel's SIGTERM: the bot stops as on any SIGTERM, and says so in its journal
        while not (finished := [e for e in journal(run_dir) if e["type"] == "RunFinished"]):
            assert time.monotonic() < deadline, f"the bot outlived its instance:\n{s.log.read_text()}"
            time.sleep(0.2)
        assert [e["reason"] for e in finished] == ["signal SIGTERM"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
