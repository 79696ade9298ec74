"""``tradewarden instance`` (list, add, start, stop, run) and ``tradewarden agent``: fleet instances from the
shell (docs/FLEET.md).

``instance run`` is the instance process: it claims the instance (registry row and lease), runs its work
(the market-data warm-up and stream, ``tradewarden.fleet.market_data``; a trading bot as a child process,
``tradewarden.fleet.trading``; each imported only here) and records its lifecycle. ``instance start|stop``
set the desired state, as the dashboard's Connect and Stop buttons do; the host's ``agent`` makes the actual
state follow. Exit codes: 2 bad input, 3 the claim is refused (another
process serves that exchange and role, or another agent runs for the host), 1 anything else.
"""

from __future__ import annotations

import getpass
import importlib
import json
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from tradewarden.cli.errors import fail, user_errors
from tradewarden.cli.fleet_cmd import JsonOpt, open_registry
from tradewarden.cli.state import ConfigOpt, load_state_config

if TYPE_CHECKING:
    from tradewarden.config import AppConfig
    from tradewarden.fleet.work import InstanceWork
    from tradewarden.persistence.fleet_agents import AgentView
    from tradewarden.persistence.fleet_repo import InstanceView

instance_app = typer.Typer(help="Fleet instances: list them, start and stop them, run one.", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)

#: the work each role runs: a factory ``(AppConfig) -> InstanceWork``
DEFAULT_WORK = {"market_data": "tradewarden.fleet.market_data:market_data_work",
                "trading": "tradewarden.fleet.trading:trading_work"}
#: works that start processes of their own (a trading instance's bot), which read the same config file: the
#: factory is also given its path, ``factory(cfg, config_path=...)``
WITH_CONFIG_PATH = frozenset({DEFAULT_WORK["trading"]})

HostOpt = Annotated[str | None, typer.Option("--host", help="The host the instance belongs to [default: this "
                                             "machine's name].")]
# module:factory of the work, instead of the role's (DEFAULT_WORK): how tests run the real processes with a work
# of their own; hidden from --help (operators have no use for it), so it carries no help text
WorkOpt = Annotated[str | None, typer.Option("--work", hidden=True)]


def _host(host: str | None) -> str:
    return host or socket.gethostname()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"


def _when(ts: int | None) -> str | None:
    return datetime.fromtimestamp(ts / 1000, UTC).isoformat(timespec="seconds") if ts else None


def _role(role: str) -> str:
    from tradewarden.domain.instances import InstanceRole

    if role not in {r.value for r in InstanceRole}:
        raise fail(f"--role {role!r}: use one of {', '.join(r.value for r in InstanceRole)}")
    return role


def _list_option(option: str, value: str | None, check: Callable[[list[str]], str | None]) -> tuple[str, ...]:
    items = [part.strip() for part in (value or "").split(",") if part.strip()]
    problem = check(items) if items else None
    if problem:
        raise fail(f"{option}: {problem}")
    return tuple(items)


def _check_symbols(items: list[str]) -> str | None:
    from pydantic import ValidationError

    from tradewarden.config.models import MarketConfig

    try:
        MarketConfig(symbols=items)
    except ValidationError as exc:
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return None


def _check_timeframes(items: list[str]) -> str | None:
    from tradewarden.domain.candles import TIMEFRAME_MS

    bad = [tf for tf in items if tf not in TIMEFRAME_MS]
    return f"unknown timeframe {', '.join(bad)} (known: {', '.join(TIMEFRAME_MS)})" if bad else None


def _logging(cfg: AppConfig) -> None:
    """Readable lines on stderr (the agent appends an instance's to its log file; a service manager keeps the
    agent's). Alembic's lines on every open of the database would bury the rest."""
    import logging

    from tradewarden.observability.logs import setup_logging

    setup_logging(cfg.logging.level, None, console=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)


# -- list --------------------------------------------------------------------------------------------
def _instance_json(i: InstanceView, now_ms: int, stale_ms: int, agent: AgentView | None) -> dict[str, object]:
    p = i.progress
    return {
        "id": i.id, "exchange": i.exchange, "exchange_id": i.exchange_id, "account_id": i.user_exchange_id,
        "role": i.role.value, "host": i.host, "pid": i.pid, "state": i.shown(now_ms, stale_ms),
        "stored_state": i.state.value, "desired": i.desired.value,
        "heartbeat_age_s": None if i.last_heartbeat_ms is None else round((now_ms - i.last_heartbeat_ms) / 1000, 1),
        "progress": {"symbols_done": p.symbols_done, "symbols_total": p.symbols_total,
                     "candles_done": p.candles_done, "candles_total": p.candles_total,
                     "fraction": round(p.fraction, 4)},
        "symbols": list(i.symbols), "timeframes": list(i.timeframes), "last_error": i.last_error,
        "started": _when(i.started_ms), "state_since": _when(i.state_since_ms),
        "agent": "none" if agent is None else ("up" if agent.alive else "down"),
    }


@instance_app.command("list")
def instance_list(
    as_json: JsonOpt = False,
    host: Annotated[str | None, typer.Option("--host", help="Only this host's instances.")] = None,
    exchange: Annotated[str | None, typer.Option("--exchange", help="Only this exchange's.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Every instance: its state (idle, starting, warming, active, stopping, stopped, error, or lost when a
    running one's heartbeat is stale), desired state, heartbeat age, warm-up progress and last error."""
    from tradewarden.persistence.fleet_agents import agents_by_host
    from tradewarden.persistence.fleet_repo import db_now_ms
    from tradewarden.persistence.instance_repo import list_instances

    cfg = load_state_config(config)
    with open_registry(cfg) as db:
        found = list_instances(db, host=host, exchange=exchange)
        agents = agents_by_host(db)
        now = db_now_ms(db)
    stale_ms = round(cfg.fleet.stale_s * 1000)
    rows = [_instance_json(i, now, stale_ms, agents.get(i.host)) for i in found]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "exchange", "role", "host", "state", "desired", "pid", "heartbeat", "progress", "symbols",
                  "agent", "last error")
    colour = {"active": "green", "warming": "yellow", "starting": "yellow", "error": "red", "lost": "red"}
    for r in rows:
        prog = r["progress"]
        assert isinstance(prog, dict)
        age = r["heartbeat_age_s"]
        state = str(r["state"])
        table.add_row(
            str(r["id"]), esc(str(r["exchange"])), str(r["role"]), esc(str(r["host"])),
            f"[{colour[state]}]{state}[/]" if state in colour else state, str(r["desired"]), str(r["pid"] or "-"),
            "-" if age is None else f"{age:g} s ago",
            f"{prog['symbols_done']}/{prog['symbols_total']} symbols, {prog['candles_done']}/{prog['candles_total']}"
            f" candles ({prog['fraction']:.0%})",
            esc(",".join(i for i in r["symbols"]) if isinstance(r["symbols"], list) else ""),
            str(r["agent"]), esc(str(r["last_error"] or "")))
    out.print(table)


# -- add, start, stop --------------------------------------------------------------------------------
@instance_app.command("add")
def instance_add(
    exchange: Annotated[str, typer.Option("--exchange", help="The exchange's slug.")],
    role: Annotated[str, typer.Option("--role", help="market_data or trading.")] = "market_data",
    host: HostOpt = None,
    symbols: Annotated[str | None, typer.Option("--symbols", help="e.g. BTC/USDT,ETH/USDT [default: the "
                                                "config's market symbols, when it first runs].")] = None,
    timeframes: Annotated[str | None, typer.Option("--timeframes", help="e.g. 1m,1h,1d [default: the config's "
                                                   "market.timeframe].")] = None,
    account: Annotated[int | None, typer.Option("--account", help="The account (a trading instance).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Register an instance for a host (idle, desired stopped); `instance start ID` asks its agent to run it."""
    from tradewarden.domain.instances import InstanceRole
    from tradewarden.persistence.fleet_repo import list_accounts
    from tradewarden.persistence.instance_repo import register_instance

    role_ = InstanceRole(_role(role))
    syms = _list_option("--symbols", symbols, _check_symbols)
    tfs = _list_option("--timeframes", timeframes, _check_timeframes)
    if role_ is InstanceRole.TRADING and account is None:
        raise fail("a trading instance needs --account ID (see `tradewarden accounts list`)")
    with open_registry(load_state_config(config)) as db:
        if account is not None and not any(a.id == account and a.exchange == exchange for a in list_accounts(db)):
            raise fail(f"--account {account}: no such account on {exchange} (see `tradewarden accounts list`)")
        inst = register_instance(db, exchange, role_, _host(host), symbols=syms, timeframes=tfs,
                                 user_exchange_id=account, actor=_os_user())
    out.print(f"instance {inst.id}: {inst.role.value} on {esc(inst.exchange)} for host {esc(inst.host)} "
              f"({inst.state.value}, desired {inst.desired.value})")


def _set_desired(instance_id: int, running: bool, reason: str, config: Path | None) -> None:
    from tradewarden.domain.instances import DesiredState
    from tradewarden.persistence.fleet_agents import agents_by_host
    from tradewarden.persistence.instance_repo import set_desired

    desired = DesiredState.RUNNING if running else DesiredState.STOPPED
    with open_registry(load_state_config(config)) as db:
        inst = set_desired(db, instance_id, desired, actor=_os_user(), reason=reason)
        agent = agents_by_host(db).get(inst.host)
    out.print(f"instance {inst.id} ({inst.role.value} on {esc(inst.exchange)}, host {esc(inst.host)}): desired "
              f"{desired.value}; its agent acts on it within a few seconds")
    if agent is None or not agent.alive:
        out.print(f"note: no agent runs for host {esc(inst.host)}: start `tradewarden agent` there")


ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept in the activity feed).")]


@instance_app.command("start")
def instance_start(instance_id: Annotated[int, typer.Argument(help="The instance's id (`instance list`).")],
                   reason: ReasonOpt = "", config: ConfigOpt = None) -> None:
    """Ask for the instance to run (desired running): its host's agent starts it."""
    _set_desired(instance_id, True, reason, config)


@instance_app.command("stop")
def instance_stop(instance_id: Annotated[int, typer.Argument(help="The instance's id (`instance list`).")],
                  reason: ReasonOpt = "", config: ConfigOpt = None) -> None:
    """Ask for the instance to stop (desired stopped): its host's agent stops it."""
    _set_desired(instance_id, False, reason, config)


# -- run ---------------------------------------------------------------------------------------------
def _load_work(spec: str, role: str, cfg: AppConfig, config: Path | None = None) -> InstanceWork:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise fail(f"--work {spec!r}: use module:factory")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise fail(f"{role} instances need {module_name}, which this installation does not have", 1) from None
        raise
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise fail(f"{module_name} has no work factory {attr!r}", 1)
    if spec in WITH_CONFIG_PATH:
        with_path: InstanceWork = factory(cfg, config_path=config.resolve() if config is not None else None)
        return with_path
    work: InstanceWork = factory(cfg)
    return work


@instance_app.command("run")
def instance_run(
    exchange: Annotated[str, typer.Option("--exchange", help="The exchange's slug (`tradewarden exchanges list`).")],
    symbols: Annotated[str | None, typer.Option("--symbols", help="e.g. BTC/USDT,ETH/USDT [default: the "
                                                "instance's, else the config's market symbols].")] = None,
    timeframes: Annotated[str | None, typer.Option("--timeframes", help="e.g. 1m,1h,1d [default: the "
                                                   "instance's, else the config's market.timeframe].")] = None,
    role: Annotated[str, typer.Option("--role", help="The instance's role.")] = "market_data",
    host: HostOpt = None,
    account: Annotated[int | None, typer.Option("--account", help="The account (a trading instance).")] = None,
    config: ConfigOpt = None,
    work: WorkOpt = None,
    # started by the host's agent: the desired state is the agent's business (see InstanceSpec.owns_desired)
    by_agent: Annotated[bool, typer.Option("--agent", hidden=True)] = False,
) -> None:
    """Run an instance in this process: claim it (one per exchange and role; exit 3 naming the holder when
    another runs), warm up, serve until SIGTERM or Ctrl-C."""
    import asyncio

    from tradewarden.domain.instances import InstanceRole
    from tradewarden.fleet.runner import InstanceClaimRefused, InstanceRunner, InstanceSpec, RunnerSettings
    from tradewarden.fleet.supervise import agent_actor

    role_ = InstanceRole(_role(role))
    syms = _list_option("--symbols", symbols, _check_symbols)
    tfs = _list_option("--timeframes", timeframes, _check_timeframes)
    cfg = load_state_config(config)
    spec_work = work or DEFAULT_WORK.get(role_.value)
    if spec_work is None:
        raise fail(f"there is no built-in work for {role_.value} instances")
    _logging(cfg)
    fleet = cfg.fleet
    spec = InstanceSpec(exchange, role_, _host(host), syms, tfs, tuple(cfg.market.traded_symbols),
                        (cfg.market.timeframe,), account, agent_actor(_host(host)) if by_agent else _os_user(),
                        owns_desired=not by_agent)
    with user_errors():
        instance_work = _load_work(spec_work, role_.value, cfg, config)
        with open_registry(cfg) as db:
            runner = InstanceRunner(db, spec, RunnerSettings(fleet.heartbeat_s, fleet.lease_ttl_s, fleet.stop_grace_s))
            try:
                inst = runner.claim()
            except InstanceClaimRefused as exc:
                raise fail(str(exc), 3) from None
            out.print(f"instance {inst.id}: {inst.role.value} on {esc(inst.exchange)} (host {esc(inst.host)}, "
                      f"pid {runner.pid}) {', '.join(inst.symbols)} {','.join(inst.timeframes)}: starting")
            result = asyncio.run(runner.serve(instance_work, handle_signals=True))
    if result.exit_code:
        raise fail(result.message, result.exit_code)
    out.print(result.message)


# -- agent -------------------------------------------------------------------------------------------
def agent(
    config: ConfigOpt = None,
    host: HostOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Look once, act, and exit (the instances go on).")] = False,
    work: WorkOpt = None,
) -> None:
    """Run this machine's agent: start and stop the instances assigned to this host so that their actual
    state follows the desired one (`instance start|stop`, the dashboard's Connect and Stop), restarting a
    crashed instance with backoff. One agent per host (exit 3 naming the running one)."""
    import signal
    import threading

    from tradewarden.fleet.agent import Agent, AgentLeaseLost, AgentRefused, AgentSettings
    from tradewarden.fleet.supervise import SuperviseSettings

    cfg = load_state_config(config)
    _logging(cfg)
    f = cfg.fleet
    settings = AgentSettings(f.agent_poll_s, f.heartbeat_s, f.stale_s, f.lease_ttl_s, SuperviseSettings(
        f.restart_backoff_s, f.restart_backoff_max_s, f.restart_stable_s, f.stop_grace_s),
        log_max_bytes=cfg.logging.max_bytes, log_backups=cfg.logging.backups)
    name = _host(host)
    with user_errors(), open_registry(cfg) as db:
        runner = Agent(db, name, cfg.data_dir / "logs", settings,
                       config=config.resolve() if config is not None else None, work=work)
        try:
            runner.start()
        except AgentRefused as exc:
            raise fail(str(exc), 3) from None
        stop = threading.Event()
        try:
            if once:
                for instance_id, decision in runner.tick():
                    out.print(f"instance {instance_id}: {decision.act.value} ({esc(decision.reason)})")
                return
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            out.print(f"agent for host {esc(name)} (pid {os.getpid()}) on {esc(db.url)}")
            runner.run(stop)
        except AgentLeaseLost as exc:
            raise fail(str(exc), 1) from None
        finally:
            runner.stop()
    out.print(f"agent for host {esc(name)} stopped; its instances go on")
