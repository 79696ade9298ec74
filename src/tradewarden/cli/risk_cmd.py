"""``tradewarden kill-switch``, ``stage`` and ``audit``: operate the risk layer from the shell.

The kill switch is written to the database (the SQLite file under the data directory unless ``--db-url``);
a running bot polls it at least every second. SQLAlchemy is imported inside the commands so that loading
this module stays cheap.
"""

from __future__ import annotations

import getpass
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from tradewarden.cli.errors import fail

if TYPE_CHECKING:
    from tradewarden.risk.store import RiskStateStore

kill_switch_app = typer.Typer(help="Halt all trading now, from any shell, and see who did it and why.",
                              no_args_is_help=True)
stage_app = typer.Typer(help="Staged ramp-up: where the bot stands against the criteria for advancing.",
                        no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail of risk decisions.", no_args_is_help=True)

out = Console(highlight=False, soft_wrap=True)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", envvar="TRADEWARDEN_DATA_DIR", file_okay=False,
    help="Data directory holding tradewarden.db and audit.jsonl [default: ~/.local/share/tradewarden].")]
DbUrl = Annotated[str | None, typer.Option(
    "--db-url", envvar="TRADEWARDEN_DB_URL",
    help="Database URL (e.g. postgresql://user@host/db) instead of the SQLite file in the data directory.")]
Actor = Annotated[str | None, typer.Option("--by", help="Who is acting [default: user@host].")]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"


def _actor(by: str | None) -> str:
    if by:
        return by
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _data_dir(data_dir: Path | None) -> Path:
    from tradewarden.persistence import default_data_dir

    return (data_dir or default_data_dir()).expanduser()


@contextmanager
def _store(data_dir: Path | None, db_url: str | None) -> Iterator[RiskStateStore]:
    from tradewarden.persistence import DatabaseError
    from tradewarden.risk.store import RiskStateStore

    try:
        store = RiskStateStore.open(db_url, _data_dir(data_dir))
    except DatabaseError as exc:
        raise fail(str(exc), 1) from None
    try:
        yield store
    finally:
        store.close()


# -- kill switch -------------------------------------------------------------------------------------
@kill_switch_app.command("on")
def kill_switch_on(
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded with who and when).")],
    by: Actor = None, data_dir: DataDir = None, db_url: DbUrl = None,
) -> None:
    """Turn the kill switch on: a running bot halts within a second (entry orders cancelled; positions
    closed if the risk config says so) and stays halted across restarts until `kill-switch off`."""
    if not reason.strip():
        raise fail("--reason must say why the kill switch is turned on")
    with _store(data_dir, db_url) as store:
        current = store.kill_switch()
        if current.active:
            out.print(f"kill switch is already ON since {_when(current.ts)} by {esc(current.actor)}: "
                      f"{esc(current.reason)}")
            return
        status = store.set_kill_switch(True, reason.strip(), _actor(by), _now_ms())
    out.print(f"kill switch ON at {_when(status.ts)} by {esc(status.actor)}: {esc(status.reason)}")


@kill_switch_app.command("off")
def kill_switch_off(
    reason: Annotated[str, typer.Option("--reason", help="Why trading may resume.")] = "",
    by: Actor = None, data_dir: DataDir = None, db_url: DbUrl = None,
) -> None:
    """Turn the kill switch off; a running bot leaves HALTED unless a breaker still holds it."""
    with _store(data_dir, db_url) as store:
        if not store.kill_switch().active:
            out.print("kill switch is already off")
            return
        status = store.set_kill_switch(False, reason.strip(), _actor(by), _now_ms())
    why = f": {esc(status.reason)}" if status.reason else ""
    out.print(f"kill switch OFF at {_when(status.ts)} by {esc(status.actor)}{why}")


@kill_switch_app.command("status")
def kill_switch_status(
    history: Annotated[int, typer.Option("--history", min=0, help="How many past changes to list.")] = 10,
    data_dir: DataDir = None, db_url: DbUrl = None,
) -> None:
    """Show the kill switch, its history (who/why/when), circuit breakers and trading states."""
    with _store(data_dir, db_url) as store:
        current = store.kill_switch()
        past = store.kill_switch_history(history)
        snap = store.load()
    if current.active:
        out.print(f"kill switch: [bold red]ON[/] since {_when(current.ts)} by {esc(current.actor)}: "
                  f"{esc(current.reason)}")
    else:
        out.print("kill switch: [green]off[/]" + (f" (since {_when(current.ts)} by {esc(current.actor)})"
                                                  if current.ts else ""))
    if past:
        table = Table("when", "switch", "by", "reason", title="history (newest first)")
        for rec in past:
            table.add_row(_when(rec.ts), "ON" if rec.active else "off", esc(rec.actor), esc(rec.reason))
        out.print(table)
    if snap.states:
        table = Table("scope", "state", "since", "why", title="trading states")
        for scope, (state, why, ts) in sorted(snap.states.items()):
            table.add_row(scope, state.value, _when(ts), esc(why))
        out.print(table)
    tripped = [b for b in snap.breakers if b.tripped]
    if tripped:
        table = Table("breaker", "scope", "action", "since", "resets", "reason",
                      title="tripped circuit breakers")
        for b in tripped:
            table.add_row(b.name, b.scope, b.action.value, _when(b.tripped_ts or 0),
                          _when(b.reset_after_ts) if b.reset_after_ts else "manual/next day", esc(b.reason))
        out.print(table)
    else:
        out.print("circuit breakers: none tripped")


@kill_switch_app.command("reset-breaker")
def reset_breaker(
    name: Annotated[str, typer.Argument(help="Breaker: daily_loss, drawdown, consecutive_losses, error_rate, "
                                             "stale_data, manual, or 'all'.")],
    scope: Annotated[str, typer.Option("--scope", help="'global' or a symbol such as BTC/USDT.")] = "global",
    reason: Annotated[str, typer.Option("--reason", help="Why it is safe to resume.")] = "",
    by: Actor = None, data_dir: DataDir = None, db_url: DbUrl = None,
) -> None:
    """Ask the running bot to reset a tripped circuit breaker (done at its next poll, within a second)."""
    from tradewarden.risk.breakers import BREAKER_NAMES

    if name != "all" and name not in BREAKER_NAMES:
        raise fail(f"unknown breaker {name!r}; choose one of {', '.join(BREAKER_NAMES)} or 'all'")
    with _store(data_dir, db_url) as store:
        store.request_breaker_reset(name, scope, reason.strip(), _actor(by), _now_ms())
    out.print(f"reset of {name} ({scope}) queued; the running bot applies it at its next poll")


# -- stages ------------------------------------------------------------------------------------------
@stage_app.command("show")
def stage_show(
    config: Annotated[Path | None, typer.Option(
        "--config", exists=True, dir_okay=False,
        help="TOML/YAML file with the risk settings (top level or a risk table) defining the stages.",
    )] = None,
    data_dir: DataDir = None, db_url: DbUrl = None,
) -> None:
    """Report each stage's criteria for advancing (days live, trades, drawdown) against recorded results."""
    from tradewarden.risk.config import RiskConfig, RiskConfigError, load_risk_config_file
    from tradewarden.risk.stages import criteria, ready_to_advance

    try:
        cfg = load_risk_config_file(config) if config is not None else RiskConfig()
    except RiskConfigError as exc:
        raise fail(str(exc)) from None
    with _store(data_dir, db_url) as store:
        snap = store.load()
    progress = {p.stage: p for p in snap.stages}
    if not cfg.stages:
        if config is None:
            out.print("no stages to judge: pass --config with the risk settings that define them")
        else:
            out.print(f"{config} defines no stages")
        if progress:
            out.print("recorded stages: " + ", ".join(sorted(progress)))
        return
    out.print(f"active stage (config): {cfg.active_stage or '-'};  last recorded: {snap.active_stage or '-'}")
    for name, stage in cfg.stages.items():
        rec = progress.get(name)
        title = f"stage {name}" + (f" -> {stage.next_stage}" if stage.next_stage else " (final)")
        if rec is None:
            out.print(f"{title}: no results recorded yet")
            continue
        table = Table("criterion", "required", "actual", "met", title=title)
        for c in criteria(stage, rec):
            table.add_row(c.name, c.required, c.actual, "yes" if c.met else "no")
        out.print(table)
        out.print(f"  since {_when(rec.first_ts)}, {rec.trades} trades ({rec.losing_trades} losing), "
                  f"pnl {rec.pnl}, largest loss {rec.largest_loss}")
        if stage.next_stage:
            verdict = "ready to advance" if ready_to_advance(stage, rec) else "not ready to advance"
            out.print(f"  {verdict} to {stage.next_stage}")


# -- audit -------------------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify(
    file: Annotated[Path | None, typer.Argument(
        help="Audit file [default: audit.jsonl in the data directory].", dir_okay=False)] = None,
    data_dir: DataDir = None,
) -> None:
    """Check the hash chain: exit 0 when intact, 1 naming the first bad record (edited/deleted/reordered)."""
    from tradewarden.risk import DEFAULT_AUDIT_FILE, verify_audit

    path = file or _data_dir(data_dir) / DEFAULT_AUDIT_FILE
    if not path.is_file():
        raise fail(f"audit file not found: {path}")
    try:
        result = verify_audit(path)
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    if result.ok:
        out.print(f"{path}: OK, {result.records} records, chain intact "
                  f"(last hash {result.last_hash[:16]}...)", markup=False)
        return
    raise fail(esc(f"{path}: {result.why.upper()} at {result.message} "
                   f"({result.records} good records before it)"), 1)
