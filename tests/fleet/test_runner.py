"""The instance runner in this process, on SQLite and PostgreSQL: the lifecycle it records around a work defined
here, the progress its heartbeat publishes, the lease (a second claim refused naming the holder, a dead holder
taken over, a lost lease stopping the work without touching the state), and the error paths."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import delete

from tradewarden.domain.instances import InstanceRole, InstanceState
from tradewarden.fleet.runner import (
    InstanceClaimRefused,
    InstanceRunner,
    InstanceSpec,
    RunnerSettings,
    RunResult,
    lease_key,
)
from tradewarden.fleet.work import InstanceHooks
from tradewarden.persistence import Database
from tradewarden.persistence import instance_repo as instances
from tradewarden.persistence.fleet_repo import ExchangeView, InstanceView, RegistryError, WarmupProgress
from tradewarden.persistence.lease import AccountLease, LeaseHolder
from tradewarden.persistence.runtime_models import AccountLeaseRow

FAST = RunnerSettings(heartbeat_s=0.05, lease_ttl_s=5.0, stop_grace_s=2.0)
DEADLINE_S = 30.0
S = InstanceState


@pytest.fixture
def db(db_url: str | None, tmp_path: Path) -> Database:
    return Database.open(db_url, tmp_path / "data")


def spec(host: str = "host-a", **kw: object) -> InstanceSpec:
    base: dict[str, object] = {"exchange": "binance", "role": InstanceRole.MARKET_DATA, "host": host,
                               "default_symbols": ("BTC/USDT", "ETH/USDT"), "default_timeframes": ("1m",),
                               "actor": "test"}
    return InstanceSpec(**{**base, **kw})  # type: ignore[arg-type]


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait (off the loop) until ``check()`` holds; fail naming ``what`` after a generous deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not await asyncio.to_thread(check):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Scripted:
    """A work the test steps through: warming with some progress, then (when released) active until stop."""

    def __init__(self) -> None:
        self.warmed = asyncio.Event()
        self.release = asyncio.Event()
        self.seen: tuple[InstanceView, ExchangeView] | None = None

    async def __call__(self, instance: InstanceView, exchange: ExchangeView, hooks: InstanceHooks,
                       stop: asyncio.Event) -> None:
        self.seen = (instance, exchange)
        hooks.warming("warm-up of 2 symbols")
        hooks.warming("said twice: no second move")
        hooks.progress(WarmupProgress(1, 2, 500, 1000))
        self.warmed.set()
        await self.release.wait()
        hooks.active("warmed up")
        await stop.wait()


def moves(db: Database, instance_id: int) -> list[tuple[str, str | None, str]]:
    return [(e.kind, e.to_state, e.reason) for e in instances.instance_events(db, instance_id=instance_id)]


async def test_the_lifecycle_is_recorded_and_the_heartbeat_publishes_progress(db: Database) -> None:
    runner = InstanceRunner(db, spec(), FAST)
    claimed = runner.claim()
    assert (claimed.state, claimed.pid, claimed.symbols, claimed.timeframes) == (
        S.STARTING, os.getpid(), ("BTC/USDT", "ETH/USDT"), ("1m",))
    work, stop = Scripted(), asyncio.Event()
    served = asyncio.create_task(runner.serve(work, stop))
    await asyncio.wait_for(work.warmed.wait(), DEADLINE_S)
    warming = (S.WARMING, WarmupProgress(1, 2, 500, 1000))
    await until(lambda: (lambda i: (i.state, i.progress))(instances.get_instance(db, claimed.id)) == warming,
                "warming, with the progress published")
    runner.progress(WarmupProgress(2, 2, 1000, 1000))  # as the work would: only a heartbeat writes it now
    await until(lambda: instances.get_instance(db, claimed.id).progress == WarmupProgress(2, 2, 1000, 1000),
                "the heartbeat to publish the newer progress")
    work.release.set()
    await until(lambda: instances.get_instance(db, claimed.id).state is S.ACTIVE, "active")
    assert work.seen is not None and work.seen[1].slug == "binance" and work.seen[0].id == claimed.id
    stop.set()
    result = await served
    assert result == RunResult(0, f"instance {claimed.id} stopped (asked to stop)")
    assert moves(db, claimed.id) == [
        ("registered", "idle", "market_data on binance"), ("transition", "starting", "started by test"),
        ("transition", "warming", "warm-up of 2 symbols"), ("transition", "active", "warmed up"),
        ("transition", "stopping", "asked to stop"), ("transition", "stopped", "stopped")]
    # the lease is released: the next claim needs no waiting
    assert AccountLease(db, lease_key(claimed.exchange_id, InstanceRole.MARKET_DATA),
                        LeaseHolder.me("probe")).current() is None


async def test_a_second_claim_is_refused_naming_the_holder(db: Database) -> None:
    first = InstanceRunner(db, spec("host-a"), FAST)
    held = first.claim()
    second = InstanceRunner(db, spec("host-b"), FAST)
    with pytest.raises(InstanceClaimRefused, match=rf"binance market_data is already served: pid {os.getpid()} "
                                                   rf"on host-a since \S+, run instance {held.id}") as refused:
        second.claim()
    assert refused.value.holder.host == "host-a"
    # the refusal is in the activity feed of the instance that was refused; nothing moved
    [(kind, to_state, reason)] = moves(db, refused.value.instance_id)[1:]
    assert (kind, to_state) == ("note", None) and "refused" in reason and "host-a" in reason
    assert instances.get_instance(db, refused.value.instance_id).state is S.IDLE
    assert instances.get_instance(db, held.id).state is S.STARTING


async def test_a_row_left_running_by_a_dead_process_is_taken_over(db: Database) -> None:
    gone = dead_pid()
    crashed = InstanceRunner(db, spec(), FAST, pid=gone)
    row = crashed.claim()
    instances.transition(db, row.id, S.ACTIVE, "served, then was killed")  # and never released its lease
    # the same host proves its pid gone: the lease is taken at once, the row moves with the reason
    taken = InstanceRunner(db, spec(), FAST).claim()
    assert (taken.id, taken.state, taken.pid) == (row.id, S.STARTING, os.getpid())
    assert moves(db, row.id)[-1][1:] == ("starting", f"taken over from pid {gone}")


async def test_another_hosts_dead_holder_is_taken_over_once_its_lease_expires(db: Database) -> None:
    short = RunnerSettings(heartbeat_s=0.05, lease_ttl_s=0.2, stop_grace_s=2.0)
    InstanceRunner(db, spec("host-a"), short).claim()  # then "dies": no heartbeat renews its lease
    taker = InstanceRunner(db, spec("host-b"), short)
    claimed: list[InstanceView] = []

    def attempt() -> bool:
        try:
            claimed.append(taker.claim())
        except InstanceClaimRefused:
            return False
        return True

    await until(attempt, "host-a's lease to expire")
    assert claimed[0].host == "host-b" and claimed[0].state is S.STARTING


async def test_a_lost_lease_stops_the_work_and_writes_no_state(db: Database) -> None:
    runner = InstanceRunner(db, spec(), FAST)
    row = runner.claim()
    work = Scripted()
    work.release.set()
    served = asyncio.create_task(runner.serve(work))
    await until(lambda: instances.get_instance(db, row.id).state is S.ACTIVE, "active")
    with db.session() as s:  # another process took the lease over (as after an expiry)
        s.execute(delete(AccountLeaseRow))
    result = await asyncio.wait_for(served, DEADLINE_S)
    assert result.exit_code == 1 and "took the instance's lease over" in result.message
    after = instances.get_instance(db, row.id)
    assert after.state is S.ACTIVE  # left for the new holder to move
    assert moves(db, row.id)[-1][0] == "note" and "lease over" in moves(db, row.id)[-1][2]


async def test_an_exception_in_the_work_is_recorded_as_error_with_one_line(db: Database) -> None:
    async def failing(instance: InstanceView, exchange: ExchangeView, hooks: InstanceHooks,
                      stop: asyncio.Event) -> None:
        hooks.warming("warming")
        await asyncio.sleep(0)
        raise ConnectionError("exchange unreachable\ntraceback-ish detail")

    runner = InstanceRunner(db, spec(), FAST)
    row = runner.claim()
    result = await runner.serve(failing)
    assert result == RunResult(1, f"instance {row.id} failed: ConnectionError: exchange unreachable")
    after = instances.get_instance(db, row.id)
    assert (after.state, after.last_error) == (S.ERROR, "ConnectionError: exchange unreachable")
    assert [m[1] for m in moves(db, row.id)] == ["idle", "starting", "warming", "error"]
    # the lease went with it: a restart claims at once and clears the error
    again = InstanceRunner(db, spec(), FAST).claim()
    assert (again.state, again.last_error) == (S.STARTING, None)


async def test_a_work_that_returns_unasked_or_ignores_stop_is_an_error(db: Database) -> None:
    async def returns(instance: InstanceView, exchange: ExchangeView, hooks: InstanceHooks,
                      stop: asyncio.Event) -> None:
        hooks.active("nothing to warm")

    runner = InstanceRunner(db, spec(), FAST)
    row = runner.claim()
    assert (await runner.serve(returns)).exit_code == 1
    assert instances.get_instance(db, row.id).last_error == "the work ended without being asked to stop"

    async def deaf(instance: InstanceView, exchange: ExchangeView, hooks: InstanceHooks,
                   stop: asyncio.Event) -> None:
        hooks.active("serving")
        await asyncio.Event().wait()  # never looks at stop

    impatient = RunnerSettings(heartbeat_s=0.05, lease_ttl_s=5.0, stop_grace_s=0.1)
    runner = InstanceRunner(db, spec(), impatient)
    runner.claim()
    stop = asyncio.Event()
    stop.set()
    result = await runner.serve(deaf, stop)
    assert result.exit_code == 1 and "did not stop within 0.1 s" in result.message
    assert [m[1] for m in moves(db, row.id)][-3:] == ["active", "stopping", "error"]


def test_an_unknown_or_inactive_exchange_is_refused_before_anything_is_written(db: Database) -> None:
    from tradewarden.persistence.fleet_repo import update_exchange

    with pytest.raises(RegistryError, match="exchange 'nope' not found"):
        InstanceRunner(db, spec(exchange="nope"), FAST).claim()
    update_exchange(db, "binance", is_active=False)
    with pytest.raises(RegistryError, match=r"exchange 'binance' is inactive; .* --active"):
        InstanceRunner(db, spec(), FAST).claim()
    with pytest.raises(RegistryError, match="a trading instance needs the account"):
        InstanceRunner(db, spec(exchange="binance_us", role=InstanceRole.TRADING), FAST).claim()
    with pytest.raises(RegistryError, match="no account with id 9 on binance_us"):
        InstanceRunner(db, spec(exchange="binance_us", role=InstanceRole.TRADING, user_exchange_id=9), FAST).claim()
    assert instances.list_instances(db) == []


def test_lease_keys_are_per_exchange_and_role_and_per_account_for_trading() -> None:
    assert lease_key(3, InstanceRole.MARKET_DATA) == "instance:3:market_data"
    assert lease_key(3, InstanceRole.TRADING, 7) == "instance:3:trading:7"
