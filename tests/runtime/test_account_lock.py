"""One bot per exchange account: the machine-wide lock, the lease's heartbeat, and two live bots on one account
against the exchange simulator (refused on one machine or a shared database; halted as a foreign writer when
nothing is shared)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ccxt
import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.config import config_hash, load_config
from tradewarden.data.sample import sample_1m_path
from tradewarden.persistence import Database
from tradewarden.persistence.lease import AccountLease, LeaseHolder
from tradewarden.runtime.lease_keeper import LeaseKeeper
from tradewarden.runtime.lock import (
    LOCK_DIR_ENV,
    SYSTEM_LOCK_DIRS,
    InstanceLock,
    InstanceLockedError,
    account_key,
    machine_lock_dir,
    session_lock,
)
from tradewarden.simulator.testing import SimulatorHandle, start_simulator

SECRET_KEY = "k3y-" + "x" * 60


def test_the_account_lock_holds_across_data_directories(tmp_path: Path) -> None:
    env = {LOCK_DIR_ENV: str(tmp_path / "locks")}
    with session_lock("binance", SECRET_KEY, "live", tmp_path / "dd1", env, bot="run-1") as first:
        with pytest.raises(InstanceLockedError) as refused:
            session_lock("binance", SECRET_KEY, "live", tmp_path / "dd2", env).acquire()
        holder = refused.value.holder
        assert holder is not None and (holder.host, holder.pid, holder.bot) == (socket.gethostname(), os.getpid(),
                                                                                "run-1")
        assert f"pid {os.getpid()} on {socket.gethostname()} since {holder.since}" in str(refused.value)
        # another key, or the same key on another exchange, is another account
        session_lock("binance", SECRET_KEY + "2", "live", tmp_path / "dd2", env).acquire()
        session_lock("kraken", SECRET_KEY, "live", tmp_path / "dd2", env).acquire()
        assert first.path.parent == tmp_path / "locks"
        assert SECRET_KEY not in first.path.name and SECRET_KEY not in first.path.read_text()
        assert account_key("binance", SECRET_KEY) in first.path.name


def test_without_an_override_the_lock_lives_in_one_place_for_every_data_directory(tmp_path: Path) -> None:
    place = machine_lock_dir({})
    assert place.parent in (*SYSTEM_LOCK_DIRS, Path(os.environ.get("TMPDIR", "/tmp")))
    one = session_lock("binance", SECRET_KEY, "live", tmp_path / "dd1", {})
    other = session_lock("binance", SECRET_KEY, "live", tmp_path / "dd2", {})
    assert one.path == other.path and one.path.parent == place and one.shared


def test_a_shared_lock_directory_is_usable_by_every_user_and_the_lock_file_by_its_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with InstanceLock(tmp_path / "machine", "binance-abc.lock", shared=True) as lock:
            assert stat.S_IMODE((tmp_path / "machine").stat().st_mode) == 0o1777
            assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
            assert set(json.loads(lock.path.read_text())) == {"host", "pid", "since", "bot"}
    finally:
        os.umask(old)


def test_keyless_sessions_lock_their_data_directory_only(tmp_path: Path) -> None:
    env = {LOCK_DIR_ENV: str(tmp_path / "locks")}
    with session_lock("simulator", None, "paper", tmp_path / "dd1", env):
        with session_lock("simulator", None, "paper", tmp_path / "dd2", env):  # nothing shared: side by side
            pass
        with pytest.raises(InstanceLockedError):
            session_lock("simulator", None, "paper", tmp_path / "dd1", env).acquire()


# -- the lease's heartbeat -------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def __call__(self) -> int:
        return self.ms


def test_the_heartbeat_renews_and_notices_a_takeover(tmp_path: Path) -> None:
    clock = Clock()
    with Database.open(None, tmp_path) as db:
        lease = AccountLease(db, "acct", LeaseHolder("alpha", 1, "a"), clock=clock)
        lease.acquire()
        keeper = LeaseKeeper(lease)
        clock.ms += 20_000
        keeper.beat()
        assert keeper.lost is None and lease.expires_ms == clock.ms + 30_000
        clock.ms += 30_001  # the bot stalled: its lease expired and another took the account
        AccountLease(db, "acct", LeaseHolder("beta", 2, "b"), clock=clock).acquire()
        keeper.beat()
        assert keeper.lost is not None and "took this account's lease over" in keeper.lost
        keeper.stop()  # never releases the new holder's lease
        assert lease.current() == LeaseHolder("beta", 2, "b", clock.ms, "")


class Unreachable(AccountLease):
    def renew(self) -> bool:
        raise ConnectionError("could not connect to server")


def test_a_lease_not_renewed_for_a_whole_period_counts_as_lost(tmp_path: Path) -> None:
    now = [100.0]
    with Database.open(None, tmp_path) as db:
        lease = Unreachable(db, "acct", LeaseHolder("alpha", 1, "a"))
        keeper = LeaseKeeper(lease, monotonic=lambda: now[0])
        now[0] += 29.0
        keeper.beat()
        assert keeper.lost is None and keeper.last_error is not None and "could not connect" in keeper.last_error
        now[0] += 2.0
        keeper.beat()
        assert keeper.lost is not None and "could not be renewed for 30 s" in keeper.lost


# -- two live bots on one account, against the exchange simulator ----------------------------------------
STRATEGY = {"strategy.name": "sma_cross", "strategy.params.fast": "3", "strategy.params.slow": "8",
            "market.timeframe": "5m", "backtest.sizing": "fixed", "backtest.fixed_qty": "0.01",
            "runtime.warmup_bars": "30", "runtime.reconcile_every_s": "1"}


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with start_simulator(data=sample_1m_path(), speed=3000, seed=3, start_index=200,
                         balances={"USDT": "100000", "BTC": "0"}) as handle:
        yield handle


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def bot_command(tmp_path: Path, sim: SimulatorHandle, out: Path, duration: str, extra: dict[str, str]) -> list[str]:
    conf = sim.ccxt_config()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(json.dumps({"exchange": {"id": "binance", "urls": conf["urls"], "options": conf["options"]}}))
    sets = {**STRATEGY, **extra}
    args = ["run", "--mode", "live", "--config", str(cfg), "--live-confirm", config_hash(load_config(cfg, sets)),
            "--duration", duration, "--out", str(out)]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    return args


def bot_env(sim: SimulatorHandle, data_dir: Path, lock_dir: Path) -> dict[str, str]:
    return {**os.environ, "TRADEWARDEN_DATA_DIR": str(data_dir), LOCK_DIR_ENV: str(lock_dir),
            "LIVE_TRADING": "YES_I_UNDERSTAND", "TRADEWARDEN_EXCHANGE__API_KEY": sim.api_key,
            "TRADEWARDEN_EXCHANGE__API_SECRET": sim.secret}


def wait_for(path: Path, text: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text} never appeared in {path} (bot exit code {proc.poll()})")


@pytest.mark.slow
@pytest.mark.parametrize("shared", ["machine", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_second_bot_on_the_same_account_refuses_to_start_and_names_the_first(
        shared: str, sim: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    """``machine``: the same lock directory, different data directories. ``postgres``: two "machines" (lock
    directories of their own) sharing a PostgreSQL database: the lease refuses the second."""
    extra = {"database.url": request.getfixturevalue("pg_url")} if shared == "postgres" else {}
    locks = (tmp_path / "locks", tmp_path / "locks") if shared == "machine" else (tmp_path / "l1", tmp_path / "l2")
    first_out = tmp_path / "first"
    proc = subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main",
                             *bot_command(tmp_path, sim, first_out, "30d", extra)],
                            env=bot_env(sim, tmp_path / "dd1", locks[0]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(first_out / "events.jsonl", "WarmUpDone", proc)  # trading, its signal handlers set
        for name, value in bot_env(sim, tmp_path / "dd2", locks[1]).items():
            monkeypatch.setenv(name, value)
        second_out = tmp_path / "second"
        result = CliRunner().invoke(app, bot_command(tmp_path, sim, second_out, "2h", extra))
        assert proc.poll() is None  # the first bot still trades
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    assert result.exit_code == 3, result.output
    assert "refused to start" in result.output and f"pid {proc.pid} on {socket.gethostname()}" in result.output
    (refused,) = [e for e in events(second_out) if e["type"] == "INSTANCE_REFUSED"]
    since = refused["holder"].pop("since")
    assert refused["holder"] == {"host": socket.gethostname(), "pid": proc.pid, "bot": first_out.name}
    assert timedelta(0) <= datetime.now(UTC) - datetime.fromisoformat(since) < timedelta(minutes=10)
    assert ("database" in refused) == (shared == "postgres") and ("lock" in refused) == (shared == "machine")
    assert "BOOT_SEAL" not in [e["type"] for e in events(second_out)]  # nothing started, nothing sent
    first = events(first_out)
    assert proc.returncode == 0 and "RunFinished" in [e["type"] for e in first]
    placed = [e for e in first if e["type"] == "OrderPlaced"]
    assert sim.state()["orders"] == len(placed)  # only the first bot's orders reached the exchange


@pytest.mark.slow
def test_an_order_under_our_client_ids_that_the_bot_did_not_send_halts_it_at_once(
        sim: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A market order fills at once: it never shows as an open order, only as a balance the bot did not expect
    and as an order under a client id of ours in the account's orders."""
    import threading

    for name, value in bot_env(sim, tmp_path / "data", tmp_path / "locks").items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "live"
    foreign_id = "tw-00000000-1700000000000-0"

    def intrude() -> None:  # once the bot trades (after its boot reconciliation)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = out / "events.jsonl"
            if log.exists() and "WarmUpDone" in log.read_text():
                break
            time.sleep(0.05)
        intruder = ccxt.binance(sim.ccxt_config())
        intruder.load_markets()
        intruder.create_order("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": foreign_id})

    thread = threading.Thread(target=intrude)
    thread.start()
    result = CliRunner().invoke(app, bot_command(tmp_path, sim, out, "8h", {}))
    thread.join()
    assert result.exit_code == 0, result.output
    evs = events(out)
    types = [e["type"] for e in evs]
    (foreign,) = [e for e in evs if e["type"] == "FOREIGN_WRITER"]
    assert [o["subject"] for o in foreign["orders"]] == [foreign_id]
    # halted at the first reconciliation that saw it, before any second look at the balance
    assert types.index("FOREIGN_WRITER") < types.index("HALTED_OPS")
    assert next(e for e in evs if e["type"] == "HALTED_OPS")["reason"] == "FOREIGN_WRITER"
    assert types.index("ReconcileOk") < types.index("FOREIGN_WRITER")
    assert foreign_id in result.output


@pytest.mark.slow
def test_two_bots_sharing_nothing_but_the_account_halt_each_other_as_foreign_writers(
        sim: SimulatorHandle, tmp_path: Path) -> None:
    """The issue's drill without any lock between them (two machines, each with its own SQLite): the same
    deterministic client ids reach the exchange twice, and each bot halts on the other's orders."""
    procs = []
    for n in (1, 2):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tradewarden.cli.main", *bot_command(tmp_path, sim, tmp_path / f"run{n}", "8h", {})],
            env=bot_env(sim, tmp_path / f"dd{n}", tmp_path / f"locks{n}"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    codes = [p.wait() for p in procs]
    assert codes == [0, 0]
    runs = {n: events(tmp_path / f"run{n}") for n in (1, 2)}
    placed = {n: {e["client_id"] for e in evs if e["type"] == "OrderPlaced"} for n, evs in runs.items()}
    halted = {n: next((e for e in evs if e["type"] == "HALTED_OPS"), None) for n, evs in runs.items()}
    # whichever saw the other's orders first halted on them, named as the other bot's (a bot halted before
    # trading sends nothing more, so the other may rightly trade on as the account's only writer)
    assert any(h is not None for h in halted.values()), {n: [e["type"] for e in evs] for n, evs in runs.items()}
    for n, other in ((1, 2), (2, 1)):
        if halted[n] is None:
            continue
        if halted[n]["reason"] == "RECONCILE_MISMATCH":
            # a bot that booted after the other had traded finds coins it never bought (the boot reconciliation
            # halts at once), or sees the other's position before its orders: halted on the balance either way
            mismatch = next(e for e in runs[n] if e["type"] == "RECONCILE_MISMATCH")
            assert any(m["kind"] == "BALANCE_MISMATCH" for m in mismatch["mismatches"]), mismatch
        else:
            assert halted[n]["reason"] == "FOREIGN_WRITER"
            foreign = next(e for e in runs[n] if e["type"] == "FOREIGN_WRITER")
            assert {o["subject"] for o in foreign["orders"]} <= placed[other]
        # halted: from then on it only closes what it holds, never opens a position
        after = runs[n][runs[n].index(halted[n]):]
        assert all(e["reduce_only"] for e in after if e["type"] == "OrderPlaced")
