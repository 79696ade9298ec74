"""The fleet registry on SQLite and PostgreSQL: seeded exchanges, accounts by variable name, instance lifecycle
recorded as events, conditional transitions and harness results."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.domain.instances import DesiredState, InstanceRole, InstanceState, InvalidInstanceTransition
from tradewarden.persistence import Database
from tradewarden.persistence import fleet_repo as fleet
from tradewarden.persistence import instance_repo as instances


@pytest.fixture
def db(db_url: str | None, tmp_path: Path) -> Database:
    return Database.open(db_url, tmp_path / "data")


def test_a_new_database_knows_binance_and_binance_us(db: Database) -> None:
    seeded = {e.slug: e for e in fleet.list_exchanges(db)}
    assert set(seeded) == {"binance", "binance_us"}
    assert seeded["binance"].is_default and not seeded["binance_us"].is_default
    assert seeded["binance_us"].ccxt_id == "binanceus"


def test_exchanges_are_added_updated_and_one_is_default(db: Database) -> None:
    added = fleet.add_exchange(db, "sim", "binance", rest_url="http://127.0.0.1:1/api", is_default=True)
    assert fleet.get_exchange(db, "sim") == added
    assert [e.slug for e in fleet.list_exchanges(db) if e.is_default] == ["sim"]
    changed = fleet.update_exchange(db, "sim", ws_url="ws://127.0.0.1:1/ws", rest_url="")
    assert (changed.rest_url, changed.ws_url) == (None, "ws://127.0.0.1:1/ws")
    with pytest.raises(fleet.RegistryError, match="already in the registry"):
        fleet.add_exchange(db, "sim", "binance")
    with pytest.raises(fleet.RegistryError, match=r"exchange 'nope' not found .*known: binance, binance_us, sim"):
        fleet.get_exchange(db, "nope")


def test_an_account_stores_the_names_of_its_key_variables(db: Database) -> None:
    fleet.add_user(db, "ana")
    account = fleet.link_account(db, "ana", "binance", "ana main", api_key_env="ANA_BINANCE_KEY",
                                 api_secret_env="ANA_BINANCE_SECRET", is_default=True)
    assert (account.user, account.exchange, account.api_key_env) == ("ana", "binance", "ANA_BINANCE_KEY")
    assert fleet.list_accounts(db) == [account]
    with pytest.raises(fleet.RegistryError, match="already has an account named 'ana main'"):
        fleet.link_account(db, "ana", "binance", "ana main")
    with pytest.raises(fleet.RegistryError, match="user 'bo' not found"):
        fleet.link_account(db, "bo", "binance", "x")
    with pytest.raises(fleet.RegistryError, match="user 'ana' already exists"):
        fleet.add_user(db, "ana")


def test_lifecycle_moves_are_checked_and_each_is_recorded(db: Database) -> None:
    inst = instances.register_instance(db, "binance", InstanceRole.MARKET_DATA, "host-a",
                                       symbols=["BTC/USDT"], timeframes=["1m"])
    assert inst.state is InstanceState.IDLE and inst.desired is DesiredState.STOPPED
    assert instances.register_instance(db, "binance", InstanceRole.MARKET_DATA, "host-a").id == inst.id
    instances.set_desired(db, inst.id, DesiredState.RUNNING, actor="op")
    instances.transition(db, inst.id, InstanceState.STARTING, "agent start", pid=4242)
    instances.heartbeat(db, inst.id, pid=4242, progress=fleet.WarmupProgress(1, 2, 500, 1000))
    instances.transition(db, inst.id, InstanceState.WARMING, "warm-up")
    with pytest.raises(InvalidInstanceTransition):
        instances.transition(db, inst.id, InstanceState.IDLE, "no")
    with pytest.raises(fleet.RegistryError, match="is warming, not starting"):
        instances.transition(db, inst.id, InstanceState.ACTIVE, "late", expect=InstanceState.STARTING)
    now = instances.transition(db, inst.id, InstanceState.ACTIVE, "warmed up")
    assert now.progress.fraction == 0.5 and now.pid == 4242
    # a heartbeat from a process that is no longer the instance's writes nothing
    assert instances.heartbeat(db, inst.id, pid=1) == 0
    feed = instances.instance_events(db, instance_id=inst.id)
    assert [(e.kind, e.to_state) for e in feed] == [
        ("registered", "idle"), ("desired", "running"), ("transition", "starting"), ("transition", "warming"),
        ("transition", "active")]
    assert feed[2].reason == "agent start"
    assert now.shown(now.last_heartbeat_ms or 0) == "active"
    assert now.shown((now.last_heartbeat_ms or 0) + fleet.STALE_MS + 1) == "lost"


def test_harness_results_are_kept_per_exchange(db: Database) -> None:
    outcome = fleet.HarnessOutcome("rest_warmup", True, "1000 candles cached", {"candles": 1000})
    instances.record_harness(db, "binance_us", "run-1", [outcome])
    [(slug, _ts, run, stored)] = instances.harness_results(db, exchange="binance_us")
    assert (slug, run, stored) == ("binance_us", "run-1", outcome)
    assert instances.harness_results(db, exchange="binance") == []
