"""``tradewarden emergency-stop``: halt every bot now, cancel every open order and close every position.

It finds the bots' database through the config, as ``run`` does (:mod:`tradewarden.cli.state`), and:

1. turns the kill switch on, through the same path as ``kill-switch on`` (the risk store; every bot then denies
   every new order), and waits for each running bot (the read model's ``running`` bots) to acknowledge it;
2. asks each bot that acknowledged to flatten every symbol it trades (an operator request of kind ``flatten``
   addressed to that bot: it cancels the symbol's open orders, the protective stop too, and sends a reduce-only
   market close through the risk gate, which lets it pass while halted) and waits for each answer;
3. with no bot running, connects to the configured exchange itself (ccxt) and cancels our ``tw-`` orders and
   sells the traded symbols' base balances (:mod:`tradewarden.runtime.emergency`).

Everything is an operator action with the CLI user as the actor (every bot copies them into its audit trail).
It prints what was done and exits 1 when anything failed or went unanswered (the kill switch stays ON).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape as esc

from tradewarden.cli.errors import fail
from tradewarden.cli.state import ConfigOpt, DataDirOpt, DbUrlOpt, load_state_config, open_risk_store

if TYPE_CHECKING:
    from tradewarden.api.readmodel import BotView
    from tradewarden.config import AppConfig
    from tradewarden.risk.store import RiskStateStore

out = Console(highlight=False, soft_wrap=True)
POLL_S = 0.2
AFTER = ("check now: `tradewarden status` (positions 0, no open orders, the kill switch ON), the exchange's own "
         "page for the account, and `tradewarden audit verify`; the kill switch stays ON until "
         "`tradewarden kill-switch off` (docs/RUNBOOK.md)")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def emergency_stop(
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded with who and when).")] = "emergency stop",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who is acting [default: user@host].")] = None,
    wait: Annotated[float, typer.Option(
        "--wait", min=0, help="Seconds to wait for each answer of a running bot (its acknowledgement of the kill "
                              "switch, then its flatten).")] = 15.0,
    config: ConfigOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None,
) -> None:
    """Kill switch on, then cancel every open order and close every position: through the running bots, or on
    the configured exchange when none runs. Exit 1 when anything failed."""
    from tradewarden.risk.account_audit import local_actor

    if not reason.strip():
        raise fail("--reason must say why")
    cfg = load_state_config(config, data_dir, db_url)
    who = by or local_actor()
    _confirm(yes, cfg.database_url)
    with open_risk_store(cfg) as store:
        store.record_operator_action("emergency_stop", who, _now_ms(), reason=reason.strip())
        status = store.kill_switch()
        if status.active:
            out.print(f"kill switch already ON since {_when(status.ts)} by {esc(status.actor)}: {esc(status.reason)}")
        else:
            status = store.set_kill_switch(True, f"emergency stop: {reason.strip()}", who, _now_ms())
            out.print(f"kill switch ON by {esc(status.actor)}: {esc(status.reason)}")
        running = _running_bots(store)
        acked = _await_acks(store, status.event_id, {b.id for b in running}, wait)
        failed = [b for b in running if b.id not in acked]
        for bot in failed:
            out.print(f"FAILED: bot {esc(bot.id)} is running but did not acknowledge the kill switch within "
                      f"{wait:g} s; it owns its exchange connection: stop it (e.g. `systemctl stop`), then run "
                      "emergency-stop again")
        if running:
            ok = _flatten_through_bots(store, [b for b in running if b.id in acked], reason.strip(), who, wait)
        else:
            ok = _flatten_directly(cfg, store, who)
    out.print(AFTER)
    if failed or not ok:
        raise typer.Exit(1)


def _when(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"


def _confirm(yes: bool, url: str) -> None:
    from tradewarden.persistence.database import safe_url

    if yes:
        return
    where = safe_url(url)
    if not sys.stdin.isatty():
        raise fail("emergency-stop asks for confirmation on a terminal; pass --yes to act without asking")
    if not typer.confirm(f"Halt every bot on {where}, cancel every open order and close every position?"):
        raise fail("not confirmed: nothing was done", 1)


def _running_bots(store: RiskStateStore) -> list[BotView]:
    from tradewarden.api import readmodel as rm

    with store.db.session() as s:
        return [b for b in rm.bots(s, _now_ms()) if b.state == "running"]


def _await_acks(store: RiskStateStore, event_id: int, bots: set[str], wait_s: float) -> set[str]:
    """The running bots that acknowledged kill switch event ``event_id`` within ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        acked = {a.bot for a in store.kill_switch_acks(event_id)} & bots
        if acked == bots or time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    for bot in sorted(acked):
        out.print(f"acknowledged by {esc(bot)}")
    return acked


def _flatten_through_bots(store: RiskStateStore, bots: list[BotView], reason: str, who: str, wait_s: float) -> bool:
    """Queue a flatten of every symbol of every bot, addressed to it, and report each answer."""
    from tradewarden.api import commands
    from tradewarden.node.commands import FLATTENED, target_of

    queued = {commands.request(store.db, commands.FLATTEN, symbol, reason, who, _now_ms(),
                               target=target_of(bot.account)).id: f"{bot.id}: {symbol}"
              for bot in bots for symbol in bot.symbols}
    deadline = time.monotonic() + wait_s
    ok = True
    while queued:
        for command_id, what in list(queued.items()):
            state = commands.get(store.db, command_id)
            if state is not None and state.acknowledged:
                done = state.outcome.startswith(FLATTENED)
                ok &= done
                out.print(f"{'' if done else 'FAILED '}{esc(what)}: {esc(state.outcome)}")
                del queued[command_id]
        if not queued or time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    for what in queued.values():
        out.print(f"FAILED {esc(what)}: not carried out within {wait_s:g} s (it stays queued: the bot carries it "
                  "out when its worker is free)")
    return ok and not queued


def _flatten_directly(cfg: AppConfig, store: RiskStateStore, who: str) -> bool:
    """No bot runs: cancel and sell on the configured exchange (docs/RUNBOOK.md). False when anything failed."""
    from tradewarden.api import readmodel as rm

    with store.db.session() as s:
        live_known = any(b.mode == "live" for b in rm.bots(s, _now_ms()))
    if cfg.exchange.id is None or not cfg.exchange.has_credentials():
        why = ("no exchange is configured (exchange.id)" if cfg.exchange.id is None
               else "no exchange keys are set (TRADEWARDEN_EXCHANGE__API_KEY/__API_SECRET or the secrets file)")
        if live_known:
            out.print(f"FAILED: no bot is running and {why}: the orders and positions of the live bot on this "
                      "database cannot be reached from here")
            return False
        out.print(f"no bot is running and {why}: a paper or shadow bot holds nothing on an exchange. The kill "
                  "switch stays ON: a bot halts when it next starts")
        return True
    from tradewarden.data.exchange import ExchangeConfigError, make_exchange, settings_from_config
    from tradewarden.runtime.emergency import flatten_account

    out.print(f"no bot is running: acting on {esc(cfg.exchange.id)} directly")
    try:
        exchange = make_exchange(settings_from_config(cfg), "sync")
    except ExchangeConfigError as exc:
        out.print(f"FAILED: {esc(str(exc))}")
        return False
    actions = flatten_account(exchange, cfg.market.traded_symbols, _now_ms())
    for action in actions:
        out.print(esc(action.line()))
        store.record_operator_action(f"emergency_{action.kind}", who, _now_ms(), symbol=action.symbol,
                                     subject=action.subject, ok=action.ok, detail=action.detail)
    return all(a.ok for a in actions)
