"""The account lease in the database: one bot per exchange account among every machine sharing it.

Two "machines" are two holders with different host names against the same database (a PostgreSQL schema of
its own, or the SQLite file); time is a clock the test moves, so expiry needs no waiting.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tradewarden.persistence import Database
from tradewarden.persistence.lease import AccountLease, LeaseHeldError, LeaseHolder

KEY = "binance-account-one"  # the account key a lease is held on (a hash of exchange and API key in the bot)


class Clock:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def db(db_url: str | None, tmp_path: Path) -> Database:
    return Database.open(db_url, tmp_path)


def machine(db: Database, host: str, clock: Clock, *, pid: int = 4242, boot: str = "boot-1",
            alive: bool = True) -> AccountLease:
    return AccountLease(db, KEY, LeaseHolder(host, pid, f"run-on-{host}", 0, boot), clock=clock,
                        pid_alive=lambda _pid: alive)


def test_a_second_machine_is_refused_while_the_first_holds_the_lease(db: Database) -> None:
    clock = Clock()
    first = machine(db, "alpha", clock)
    assert first.acquire() is None
    clock.ms += 20_000
    assert first.renew()
    clock.ms += 25_000  # 45 s after the start, 25 s after the heartbeat: still held
    with pytest.raises(LeaseHeldError, match="pid 4242 on alpha since 2023-11-14T22:13:20") as refused:
        machine(db, "beta", clock).acquire()
    assert refused.value.holder.fields() == {"host": "alpha", "pid": 4242, "since": "2023-11-14T22:13:20+00:00",
                                             "bot": "run-on-alpha"}
    assert first.current() == LeaseHolder("alpha", 4242, "run-on-alpha", clock.ms - 45_000, "boot-1")
    db.close()


def test_an_expired_lease_is_taken_over_and_its_old_holder_learns_it_lost_it(db: Database) -> None:
    clock = Clock()
    first = machine(db, "alpha", clock)
    first.acquire()
    clock.ms += 30_001  # alpha stopped renewing (died, or stalled) for longer than the lease lasts
    second = machine(db, "beta", clock)
    previous = second.acquire()
    assert previous is not None and previous.host == "alpha"
    assert not first.renew()
    first.release()  # releases only its own: beta keeps the account
    assert second.current() is not None and second.current() == LeaseHolder(
        "beta", 4242, "run-on-beta", clock.ms, "boot-1")
    assert second.renew()
    second.release()
    assert second.current() is None
    assert machine(db, "gamma", clock).acquire() is None  # a released lease is free at once
    db.close()


def test_a_dead_holder_on_this_host_is_taken_over_at_once(db: Database) -> None:
    """A crashed bot restarted by systemd within seconds must not wait for its own dead lease."""
    clock = Clock()
    machine(db, "alpha", clock, pid=111).acquire()
    with pytest.raises(LeaseHeldError):  # same host, its process alive: a second bot
        machine(db, "alpha", clock, pid=222, alive=True).acquire()
    assert machine(db, "alpha", clock, pid=222, alive=False).acquire() is not None  # its process is gone
    # a holder from an earlier boot of this host is gone too, whatever its pid says now
    assert machine(db, "alpha", clock, pid=333, boot="boot-2", alive=True).acquire() is not None
    # another machine's holder is never judged by this host's processes
    with pytest.raises(LeaseHeldError):
        machine(db, "beta", clock, pid=444, alive=False).acquire()
    db.close()


@pytest.mark.postgres
def test_two_machines_starting_at_once_on_postgresql_get_one_lease(pg_url: str, tmp_path: Path) -> None:
    clock = Clock()
    db = Database.open(pg_url, tmp_path)
    hosts = [f"host-{i}" for i in range(6)]
    start = threading.Barrier(len(hosts))
    won: list[str] = []
    refused: list[str] = []

    def start_bot(host: str) -> None:
        lease = machine(db, host, clock)
        start.wait()
        try:
            lease.acquire()
            won.append(host)
        except LeaseHeldError as exc:
            refused.append(exc.holder.host)

    threads = [threading.Thread(target=start_bot, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == len(hosts) - 1
    assert set(refused) == set(won)  # every refusal named the winner
    db.close()


@pytest.mark.postgres
def test_the_database_clock_decides_expiry_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """Without an injected clock the lease's times come from the server, the one clock every machine shares."""
    with Database.open(pg_url, tmp_path) as db:
        lease = AccountLease(db, KEY, LeaseHolder.me("run"))
        before = lease.now_ms()
        lease.acquire()
        assert before <= lease.expires_ms - lease.ttl_ms <= lease.now_ms()
        with pytest.raises(LeaseHeldError):
            AccountLease(db, KEY, LeaseHolder("elsewhere", 1, "other")).acquire()
        lease.release()


def test_a_killed_holder_process_on_this_host_is_taken_over(db_url: str | None, tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path; from tradewarden.persistence import Database; "
            "from tradewarden.persistence.lease import AccountLease, LeaseHolder; "
            f"db = Database.open({db_url!r}, Path({str(tmp_path)!r})); "
            f"AccountLease(db, {KEY!r}, LeaseHolder.me('killed')).acquire(); print('held', flush=True); "
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with Database.open(db_url, tmp_path) as db:
            with pytest.raises(LeaseHeldError, match=f"pid {proc.pid} "):
                AccountLease(db, KEY, LeaseHolder.me("second")).acquire()
            proc.kill()
            proc.wait()
            previous = AccountLease(db, KEY, LeaseHolder.me("second")).acquire()
            assert previous is not None and previous.pid == proc.pid
    finally:
        proc.kill()
        proc.wait()
