"""``tradewarden exchanges``, ``users``, ``accounts`` and ``instance list|add|start|stop``: the registry from the
shell, on the database the config names (``--config``, ``TRADEWARDEN_DATABASE__URL``, the default), with bad
input as one line and exit 2 and never a secret printed."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.domain.instances import InstanceRole, InstanceState
from tradewarden.persistence import Database
from tradewarden.persistence import fleet_repo as fleet
from tradewarden.persistence import instance_repo as instances
from tradewarden.persistence.fleet_agents import agent_lease_key, list_agents
from tradewarden.persistence.lease import AccountLease, LeaseHolder, boot_id

FLEET_TESTS = Path(__file__).resolve().parents[1] / "fleet"  # instance_works.py


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    # a wide terminal, so that the tables' cells are not wrapped
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250", **(env or {})})
    return result.exit_code, result.output


@pytest.fixture
def config(db_url: str | None, tmp_path: Path) -> Path:
    """A config file naming the test's database (SQLite under tmp_path, or a PostgreSQL schema)."""
    path = tmp_path / "fleet.toml"
    lines = [f'data_dir = "{tmp_path / "data"}"']
    if db_url is not None:
        lines += ["[database]", f'url = "{db_url}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def db_of(config: Path) -> Database:
    from tradewarden.config import load_config

    cfg = load_config(config)
    return Database.open(cfg.database.url, cfg.data_dir)


def test_exchanges_are_added_listed_and_updated(config: Path) -> None:
    c = ("--config", str(config))
    code, out = invoke("exchanges", "add", "sim_a", "--ccxt-id", "binance", "--rest-url", "http://127.0.0.1:8765",
                       "--ws-url", "ws://127.0.0.1:8765/stream/ws", "--name", "Simulator A", *c)
    assert code == 0, out
    assert "added exchange sim_a" in out
    code, out = invoke("exchanges", "update", "sim_a", "--inactive", "--ws-url", "", "--default", *c)
    assert code == 0, out
    code, out = invoke("exchanges", "list", "--json", *c)
    assert code == 0, out
    listed = {e["slug"]: e for e in json.loads(out)}
    assert set(listed) == {"binance", "binance_us", "sim_a"}
    assert listed["sim_a"] | {"id": 0} == {"id": 0, "slug": "sim_a", "ccxt_id": "binance", "name": "Simulator A",
                                           "rest_url": "http://127.0.0.1:8765", "ws_url": None, "active": False,
                                           "default": True}
    assert not listed["binance"]["default"]
    code, out = invoke("exchanges", "list", *c)
    assert code == 0 and "sim_a" in out and "NO" in out and "Binance.US" in out


@pytest.mark.parametrize(("args", "message"), [
    (("exchanges", "add", "sim", "--ccxt-id", "binanse"), "--ccxt-id 'binanse' is not an exchange ccxt knows (did "
                                                          "you mean binance"),
    (("exchanges", "add", "Sim!", "--ccxt-id", "binance"), "exchange slug 'Sim!'"),
    (("exchanges", "add", "sim", "--ccxt-id", "binance", "--rest-url", "ftp://x"), "--rest-url must be a http:// or "
                                                                                  "https:// URL"),
    (("exchanges", "add", "binance", "--ccxt-id", "binance"), "exchange 'binance' is already in the registry"),
    (("exchanges", "update", "nope", "--active"), "exchange 'nope' not found in the registry (known: binance, "
                                                  "binance_us)"),
    (("accounts", "link", "--user", "ghost", "--exchange", "binance", "--name", "x", "--key-env", "K",
      "--secret-env", "S"), "user 'ghost' not found"),
    (("instance", "start", "999"), "no instance with id 999"),
    (("instance", "add", "--exchange", "binance", "--symbols", "BTCUSDT"), "--symbols: BTCUSDT: each must look "
                                                                           "like BASE/QUOTE"),
    (("instance", "add", "--exchange", "binance", "--timeframes", "1m,7m"), "--timeframes: unknown timeframe 7m"),
    (("instance", "add", "--exchange", "binance", "--role", "trading"), "a trading instance needs --account ID"),
    (("instance", "add", "--exchange", "binance", "--account", "5"), "--account 5: no such account on binance"),
    (("instance", "run", "--exchange", "binance", "--role", "miner"), "--role 'miner': use one of market_data, "
                                                                      "trading"),
])
def test_bad_input_is_one_line_and_exit_2(config: Path, args: tuple[str, ...], message: str) -> None:
    code, out = invoke(*args, "--config", str(config))
    assert code == 2, out
    assert message in " ".join(out.split())
    assert "Traceback" not in out


def test_accounts_store_variable_names_and_never_print_a_secret(config: Path) -> None:
    c = ("--config", str(config))
    canary = "canary-" + secrets.token_hex(8)
    assert invoke("users", "add", "ana", "--email", "ana@example.org", *c)[0] == 0
    code, out = invoke("accounts", "link", "--user", "ana", "--exchange", "binance_us", "--name", "ana main",
                       "--key-env", "ANA_US_KEY", "--secret-env", "ANA_US_SECRET", "--default", *c,
                       env={"ANA_US_KEY": canary})
    assert code == 0, out
    assert "$ANA_US_SECRET not set in this shell" in out and canary not in out
    code, out = invoke("accounts", "list", "--json", *c, env={"ANA_US_KEY": canary})
    assert code == 0, out
    [account] = json.loads(out)
    assert account | {"id": 0} == {"id": 0, "user": "ana", "exchange": "binance_us", "name": "ana main",
                                   "key_env": "ANA_US_KEY", "key_set": True, "secret_env": "ANA_US_SECRET",
                                   "secret_set": False, "active": True, "default": True}
    code, out = invoke("accounts", "list", *c, env={"ANA_US_KEY": canary})
    assert code == 0 and "ANA_US_KEY (set)" in out and canary not in out
    # a key pasted where its variable's name belongs is refused without being echoed
    code, out = invoke("accounts", "link", "--user", "ana", "--exchange", "binance", "--name", "oops",
                       "--key-env", f"{canary}/+=", "--secret-env", "S", *c)
    assert code == 2 and "the value given is not shown" in out and canary not in out
    code, out = invoke("users", "list", "--json", *c)
    assert json.loads(out)[0] | {"id": 0} == {"id": 0, "name": "ana", "email": "ana@example.org"}


def test_instances_are_added_started_stopped_and_listed(config: Path) -> None:
    c = ("--config", str(config))
    code, out = invoke("instance", "add", "--exchange", "binance", "--host", "box-1", "--symbols",
                       "BTC/USDT,ETH/USDT", "--timeframes", "1m,1h", *c)
    assert code == 0, out
    instance_id = int(out.split()[1].rstrip(":"))
    code, out = invoke("instance", "start", str(instance_id), "--reason", "Connect", *c)
    assert code == 0, out
    assert "desired running" in out and "no agent runs for host box-1" in out
    code, out = invoke("instance", "list", "--json", *c)
    assert code == 0, out
    [row] = json.loads(out)
    assert {k: row[k] for k in ("id", "exchange", "role", "host", "state", "desired", "symbols", "timeframes",
                                "agent", "pid", "heartbeat_age_s")} == {
        "id": instance_id, "exchange": "binance", "role": "market_data", "host": "box-1", "state": "idle",
        "desired": "running", "symbols": ["BTC/USDT", "ETH/USDT"], "timeframes": ["1m", "1h"], "agent": "none",
        "pid": None, "heartbeat_age_s": None}
    with db_of(config) as db:
        [event] = [e for e in instances.instance_events(db, instance_id=instance_id) if e.kind == "desired"]
        assert (event.to_state, event.reason) == ("running", "Connect")
        assert event.actor  # the OS user who asked
    assert invoke("instance", "stop", str(instance_id), *c)[0] == 0
    code, out = invoke("instance", "list", *c)
    assert code == 0 and "box-1" in out and "stopped" in out and "idle" in out


def test_a_running_instance_whose_heartbeat_went_stale_lists_as_lost(config: Path) -> None:
    with db_of(config) as db:
        inst = instances.register_instance(db, "binance", InstanceRole.MARKET_DATA, "box-2")
        instances.transition(db, inst.id, InstanceState.STARTING, "test", pid=4242)
        instances.heartbeat(db, inst.id, pid=4242, progress=fleet.WarmupProgress(1, 4, 250, 1000))
        instances.transition(db, inst.id, InstanceState.WARMING, "test")
        # an agent for box-2 is up (its lease is held)
        AccountLease(db, agent_lease_key("box-2"), LeaseHolder("box-2", 1, "agent", 0, "b")).acquire()
        assert [a.host for a in list_agents(db) if a.alive] == ["box-2"]
    fresh = {"TRADEWARDEN_FLEET__HEARTBEAT_S": "0.01", "TRADEWARDEN_FLEET__STALE_S": "60"}
    code, out = invoke("instance", "list", "--json", "--config", str(config), env=fresh)
    assert code == 0, out
    [row] = json.loads(out)
    assert (row["state"], row["stored_state"], row["agent"]) == ("warming", "warming", "up")
    assert row["progress"] == {"symbols_done": 1, "symbols_total": 4, "candles_done": 250, "candles_total": 1000,
                               "fraction": 0.25}
    time.sleep(0.05)
    stale = {"TRADEWARDEN_FLEET__HEARTBEAT_S": "0.001", "TRADEWARDEN_FLEET__STALE_S": "0.02"}
    code, out = invoke("instance", "list", "--json", "--config", str(config), env=stale)
    [row] = json.loads(out)
    assert (row["state"], row["stored_state"]) == ("lost", "warming")
    code, out = invoke("instance", "list", "--config", str(config), env=stale)
    assert "lost" in out and "1/4 symbols, 250/1000 candles (25%)" in out


@pytest.mark.postgres
def test_the_database_comes_from_the_environment_like_run(pg_url: str, tmp_path: Path) -> None:
    env = {"TRADEWARDEN_DATABASE__URL": pg_url, "TRADEWARDEN_DATA_DIR": str(tmp_path / "elsewhere")}
    code, out = invoke("exchanges", "add", "from_env", "--ccxt-id", "kraken", env=env)
    assert code == 0, out
    with Database.open(pg_url, tmp_path) as db:
        assert fleet.get_exchange(db, "from_env").ccxt_id == "kraken"
    assert not (tmp_path / "elsewhere" / "tradewarden.db").exists()


def test_without_a_config_the_default_database_is_used(tmp_path: Path) -> None:
    env = {"TRADEWARDEN_DATA_DIR": str(tmp_path / "data")}
    assert invoke("users", "add", "bo", env=env)[0] == 0
    with Database.open(None, tmp_path / "data") as db:
        assert [u.name for u in fleet.list_users(db)] == ["bo"]


def test_a_second_agent_for_a_host_is_refused_naming_the_first(config: Path) -> None:
    with db_of(config) as db:
        # pid 1 lives, on this boot: the agent cannot take the lease over
        AccountLease(db, agent_lease_key("box-3"), LeaseHolder("box-3", 1, "agent", 0, boot_id())).acquire()
    code, out = invoke("agent", "--host", "box-3", "--once", "--config", str(config))
    assert code == 3, out
    assert "another agent runs for host box-3: pid 1 on box-3" in " ".join(out.split())


def test_instance_run_names_what_it_lacks(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FLEET_TESTS))
    code, out = invoke("instance", "run", "--exchange", "nope", "--host", "box-4", "--work",
                       "instance_works:steady_work", "--config", str(config))
    assert code == 2, out
    assert "exchange 'nope' not found in the registry" in " ".join(out.split())
    code, out = invoke("instance", "run", "--exchange", "binance", "--role", "trading", "--config", str(config))
    assert code == 2 and "a trading instance needs the account it trades" in " ".join(out.split()), out
    # a work module this installation lacks (as before the market-data module lands): one line, exit 1
    code, out = invoke("instance", "run", "--exchange", "binance", "--work", "tradewarden.fleet.nowhere:work",
                       "--config", str(config))
    assert code == 1, out
    assert ("market_data instances need tradewarden.fleet.nowhere, which this installation does not have"
            in " ".join(out.split()))


def test_fleet_periods_that_cannot_work_are_refused_naming_them(config: Path) -> None:
    code, out = invoke("instance", "list", "--config", str(config), env={"TRADEWARDEN_FLEET__LEASE_TTL_S": "3"})
    assert code == 2, out
    assert "lease_ttl_s (3) must be at least twice heartbeat_s (2)" in " ".join(out.split())
    code, out = invoke("instance", "list", "--config", str(config), env={"TRADEWARDEN_FLEET__STALE_S": "1"})
    assert code == 2 and "stale_s (1) must exceed heartbeat_s (2)" in " ".join(out.split())
