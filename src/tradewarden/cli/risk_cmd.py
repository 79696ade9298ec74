"""``tradewarden kill-switch``, ``stage`` and ``audit``: operate the risk layer from the shell.

Every command finds the bot's database and data directory through the config, as ``run`` does
(:mod:`tradewarden.cli.state`). The kill switch is written to that database; a running bot polls it at least
every second and records that it applied it, which ``kill-switch on`` waits for. SQLAlchemy is imported
inside the commands so that loading this module stays cheap.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from tradewarden.cli.errors import fail
from tradewarden.cli.state import ConfigOpt, DataDirOpt, DbUrlOpt, load_state_config, open_risk_store

if TYPE_CHECKING:
    from tradewarden.risk.account_audit import StoredHead
    from tradewarden.risk.store import RiskStateStore

kill_switch_app = typer.Typer(help="Halt all trading now, from any shell, and see who did it and why.",
                              no_args_is_help=True)
stage_app = typer.Typer(help="Staged ramp-up: where the bot stands against the criteria for advancing.",
                        no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail of risk decisions.", no_args_is_help=True)

out = Console(highlight=False, soft_wrap=True)

Actor = Annotated[str | None, typer.Option("--by", help="Who is acting [default: user@host].")]
Wait = Annotated[float, typer.Option(
    "--wait", min=0, help="Seconds to wait for a running bot to acknowledge the kill switch.")]
#: between looks for an acknowledgement: a bot polls the switch every runtime.kill_switch_poll_s (1 s)
ACK_POLL_S = 0.2


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"


def _actor(by: str | None) -> str:
    from tradewarden.risk.account_audit import local_actor

    return by or local_actor()


def _await_ack(store: RiskStateStore, event_id: int, wait_s: float) -> None:
    """Wait up to ``wait_s`` for a running bot to acknowledge kill switch event ``event_id``; say who did, or
    exit 1 saying that none did (the switch stays on: a bot halts when it next starts)."""
    deadline = time.monotonic() + wait_s
    while True:
        acks = store.kill_switch_acks(event_id)
        if acks or time.monotonic() >= deadline:
            break
        time.sleep(ACK_POLL_S)
    for ack in acks:
        out.print(f"acknowledged by {esc(ack.bot)} at {_when(ack.ts)}")
    if not acks:
        raise fail(f"no running bot acknowledged within {wait_s:g} s: it will halt at its next start "
                   "(the kill switch is ON and stored)", 1)


# -- kill switch -------------------------------------------------------------------------------------
@kill_switch_app.command("on")
def kill_switch_on(
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded with who and when).")],
    by: Actor = None, wait: Wait = 5.0, config: ConfigOpt = None, data_dir: DataDirOpt = None,
    db_url: DbUrlOpt = None,
) -> None:
    """Turn the kill switch on: a running bot halts within a second (entry orders cancelled; positions
    closed if the risk config says so) and stays halted across restarts until `kill-switch off`.

    Waits for a running bot on the same database to acknowledge; exits 1 when none does."""
    if not reason.strip():
        raise fail("--reason must say why the kill switch is turned on")
    cfg = load_state_config(config, data_dir, db_url)
    with open_risk_store(cfg) as store:
        status = store.kill_switch()
        if status.active:
            out.print(f"kill switch is already ON since {_when(status.ts)} by {esc(status.actor)}: "
                      f"{esc(status.reason)}")
        else:
            status = store.set_kill_switch(True, reason.strip(), _actor(by), _now_ms())
            out.print(f"kill switch ON at {_when(status.ts)} by {esc(status.actor)}: {esc(status.reason)}")
        _await_ack(store, status.event_id, wait)


@kill_switch_app.command("off")
def kill_switch_off(
    reason: Annotated[str, typer.Option("--reason", help="Why trading may resume.")] = "",
    by: Actor = None, config: ConfigOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None,
) -> None:
    """Turn the kill switch off; a running bot leaves HALTED unless a breaker still holds it."""
    with open_risk_store(load_state_config(config, data_dir, db_url)) as store:
        if not store.kill_switch().active:
            out.print("kill switch is already off")
            return
        status = store.set_kill_switch(False, reason.strip(), _actor(by), _now_ms())
    why = f": {esc(status.reason)}" if status.reason else ""
    out.print(f"kill switch OFF at {_when(status.ts)} by {esc(status.actor)}{why}")


@kill_switch_app.command("status")
def kill_switch_status(
    history: Annotated[int, typer.Option("--history", min=0, help="How many past changes to list.")] = 10,
    config: ConfigOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None,
) -> None:
    """Show the kill switch, its history (who/why/when), circuit breakers and trading states."""
    with open_risk_store(load_state_config(config, data_dir, db_url)) as store:
        current = store.kill_switch()
        past = store.kill_switch_history(history)
        snap = store.load()
        acks = store.kill_switch_acks(current.event_id) if current.active else []
    if current.active:
        out.print(f"kill switch: [bold red]ON[/] since {_when(current.ts)} by {esc(current.actor)}: "
                  f"{esc(current.reason)}")
        for ack in acks:
            out.print(f"  acknowledged by {esc(ack.bot)} at {_when(ack.ts)}")
        if not acks:
            out.print("  not acknowledged by a running bot yet")
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
    by: Actor = None, config: ConfigOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None,
) -> None:
    """Ask the running bot to reset a tripped circuit breaker (done at its next poll, within a second)."""
    from tradewarden.risk.breakers import BREAKER_NAMES

    if name != "all" and name not in BREAKER_NAMES:
        raise fail(f"unknown breaker {name!r}; choose one of {', '.join(BREAKER_NAMES)} or 'all'")
    with open_risk_store(load_state_config(config, data_dir, db_url)) as store:
        store.request_breaker_reset(name, scope, reason.strip(), _actor(by), _now_ms())
    out.print(f"reset of {name} ({scope}) queued; the running bot applies it at its next poll")


# -- stages ------------------------------------------------------------------------------------------
@stage_app.command("show")
def stage_show(config: ConfigOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None) -> None:
    """Report each stage's criteria for advancing (days live, trades, drawdown) against recorded results.

    The stages are those of the bot's config (its risk table)."""
    from tradewarden.risk.config import RiskConfigError, load_risk_config
    from tradewarden.risk.stages import criteria, ready_to_advance, stage_verdict

    app_cfg = load_state_config(config, data_dir, db_url)
    try:
        cfg = load_risk_config(app_cfg.risk)
    except RiskConfigError as exc:
        raise fail(str(exc)) from None
    with open_risk_store(app_cfg) as store:
        snap = store.load()
    progress = {p.stage: p for p in snap.stages}
    if not cfg.stages:
        out.print("no stages to judge: the config defines no risk.stages"
                  + ("; pass --config with the bot's config" if config is None else f" ({config})"))
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
            decided = stage_verdict(stage, rec)  # the rule of `report period` (docs/REPORTS.md)
            why = ", ".join(j.threshold.name for j in decided.deciding)
            out.print(f"  {verdict} to {stage.next_stage}: {decided.decision}" + (f" ({why})" if why else ""))


# -- audit -------------------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify(
    file: Annotated[Path | None, typer.Argument(
        help="One audit file [default: every account's trail the database knows, and any file in "
             "<data dir>/audit].", dir_okay=False)] = None,
    config: ConfigOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None,
) -> None:
    """Check each hash chain, and each trail against the record count and last hash in the database: exit 0
    when intact, 1 naming the first bad record (edited/deleted/reordered, cut from the end, rewritten) or a
    deleted file."""
    from tradewarden.risk.account_audit import AUDIT_DIR

    cfg = load_state_config(config, data_dir, db_url)
    with open_risk_store(cfg) as store:
        heads = {Path(h.path).resolve(): h for h in store.audit_heads()}
    if file is not None:
        if not file.is_file() and file.resolve() not in heads:
            raise fail(f"audit file not found: {file}")
        targets = [file]
    else:
        found = sorted((cfg.data_dir / AUDIT_DIR).glob("*.jsonl"))
        targets = sorted(set(heads) | {f.resolve() for f in found})
        if not targets:
            raise fail(f"no audit trail found: none in {cfg.data_dir / AUDIT_DIR} and none recorded in the "
                       "database (a bot writes one per account when it runs)")
    bad = [path for path in targets if not _verify_one(path, heads.get(path.resolve()))]
    if bad:
        raise typer.Exit(1)


@audit_app.command("restart")
def audit_restart(
    account: Annotated[str, typer.Argument(help="The account whose trail is damaged, as `audit verify` names it, "
                                                "e.g. live:binance:BTC/USDT:sma_cross.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the new trail with who and when).")],
    by: Actor = None, config: ConfigOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None,
) -> None:
    """Start a new audit trail for an account whose trail is damaged, with its bot stopped: the damaged file
    is kept (renamed), and the new trail begins with what was found, who restarted it and why."""
    from tradewarden.risk import AuditError
    from tradewarden.risk.account_audit import restart_trail

    if not reason.strip():
        raise fail("--reason must say why the audit trail is restarted")
    cfg = load_state_config(config, data_dir, db_url)
    with open_risk_store(cfg) as store:
        try:
            path = restart_trail(store, cfg.data_dir, account, _actor(by), reason.strip(), _now_ms())
        except AuditError as exc:
            raise fail(str(exc), 1) from None
    out.print(f"new audit trail for {esc(account)}: {esc(str(path))} (the damaged one kept beside it)")


def _verify_one(path: Path, stored: StoredHead | None) -> bool:
    """Verify one trail and print the finding; False when it is damaged."""
    from tradewarden.risk import verify_audit

    name = f"{path}" + (f" ({stored.account})" if stored is not None else "")
    if not path.is_file():
        assert stored is not None  # only files the database knows are looked for without existing
        out.print(esc(f"{name}: DELETED: the file is missing, but the database recorded {stored.head.seq} "
                      f"records of it (last hash {stored.head.last_hash[:16]}...)"), style="red")
        return False
    try:
        result = verify_audit(path, None if stored is None else stored.head)
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}", 1) from None
    if not result.ok:
        out.print(esc(f"{name}: {result.why.upper()} at {result.message} "
                      f"({result.records} good records before it)"), style="red")
        return False
    against = (f"; the database recorded {stored.head.seq}" if stored is not None
               else "; the database recorded no head for it, so a cut end cannot be seen")
    out.print(f"{name}: OK, {result.records} records, chain intact (last hash {result.last_hash[:16]}...)"
              f"{against}", markup=False)
    return True
