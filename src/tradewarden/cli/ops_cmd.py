"""``tradewarden status``, ``serve`` and ``api token``: operate running bots.

Each finds the bot's database through the config exactly as ``run`` does (:mod:`tradewarden.cli.state`).
``status`` exits 0 when every bot is healthy and 1 naming each problem otherwise (docs/OPERATIONS.md).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape as esc

from tradewarden.cli.errors import fail
from tradewarden.cli.state import ConfigOpt, DataDirOpt, DbUrlOpt, load_state_config, open_risk_store

if TYPE_CHECKING:
    from tradewarden.api.status import StatusReport

api_app = typer.Typer(help="The HTTP API's tokens.", no_args_is_help=True)
token_app = typer.Typer(help="Create, list and revoke API tokens (role viewer: read; operator: read and act).",
                        no_args_is_help=True)
api_app.add_typer(token_app, name="token")

out = Console(highlight=False, soft_wrap=True)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"


def _print_report(report: StatusReport) -> None:
    risk = report.risk
    out.print(f"kill switch: {'ON (' + esc(risk.kill_switch_reason) + ')' if risk.kill_switch else 'off'}   "
              f"stage: {esc(risk.stage or '-')}   trading: "
              f"{esc(', '.join(f'{k} {v}' for k, v in risk.trading_states.items()) or 'ACTIVE')}")
    for b in risk.tripped_breakers:
        out.print(f"breaker tripped: {esc(b)}")
    for st in report.bots:
        bot = st.bot
        out.print(f"\n[bold]{esc(bot.id)}[/bold]  {bot.mode}  {bot.state}  {esc(bot.strategy)}  "
                  f"uptime {st.uptime_s if st.uptime_s is not None else '-'} s  "
                  f"last candle {st.candle_age_s if st.candle_age_s is not None else '-'} s ago  "
                  f"equity {st.equity if st.equity is not None else '-'}  pnl {st.pnl if st.pnl is not None else '-'}")
        out.print(f"  feed: {st.feed.reconnects_today} reconnect(s) today, last stall {_when(st.feed.last_stall)}")
        for p in st.symbols:
            out.print(f"  {esc(p.symbol)}: {p.qty} @ {p.entry_price} mark {p.mark if p.mark is not None else '-'}  "
                      f"pnl today {p.pnl_today}  total {p.pnl_total}")
        for o in st.open_orders:
            out.print(f"  open: {esc(o.client_id)} {esc(o.symbol)} {o.side} {o.order_type} {o.qty} "
                      f"@ {o.price if o.price is not None else 'market'}")
    out.print()
    if report.healthy:
        out.print("healthy")
    for problem in report.problems:
        out.print(f"PROBLEM: {esc(problem)}")


def status(config: ConfigOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False) -> None:
    """Every bot on the database: mode, state, uptime, candle age, positions and PnL per symbol, open orders,
    the risk state and feed health. Exit 0 when all is healthy, 1 naming each problem otherwise."""
    from tradewarden.api.status import collect

    cfg = load_state_config(config, data_dir, db_url)
    with open_risk_store(cfg) as store:
        report = collect(store, _now_ms())
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        _print_report(report)
    if not report.healthy:
        raise typer.Exit(1)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(config: ConfigOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None,
          host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8080) -> None:
    """Run the HTTP API (docs/OPERATIONS.md). Listens on loopback by default; refuses (exit 3) any other
    address while no API token exists."""
    import uvicorn

    from tradewarden.api import tokens
    from tradewarden.api.app import create_app

    cfg = load_state_config(config, data_dir, db_url)
    with open_risk_store(cfg) as store:
        if not _loopback(host) and not tokens.any_active(store.db):
            raise fail(f"refusing to listen on {host}: no API token exists, so anyone who can reach it would "
                       "be refused only by luck; create one with `tradewarden api token create` first", 3)
        uvicorn.run(create_app(store.db, cfg.data_dir, runs_dir=cfg.backtest.out_dir,
                               fleet_stale_ms=round(cfg.fleet.stale_s * 1000)), host=host, port=port,
                    log_level="info", server_header=False, proxy_headers=False)


RoleOpt = Annotated[str, typer.Option("--role", help="viewer (read) or operator (read and act).")]


@token_app.command("create")
def token_create(name: Annotated[str, typer.Option("--name", help="Who or what uses the token.")],
                 role: RoleOpt = "viewer", config: ConfigOpt = None, data_dir: DataDirOpt = None,
                 db_url: DbUrlOpt = None) -> None:
    """Create a token and print it, alone on stdout, once: only its hash is stored."""
    from tradewarden.api import tokens

    try:
        wanted = tokens.Role(role)
    except ValueError:
        raise fail(f"--role {role!r}: use viewer or operator") from None
    cfg = load_state_config(config, data_dir, db_url)
    with open_risk_store(cfg) as store:
        try:
            secret = tokens.create(store.db, name, wanted, _now_ms())
        except tokens.TokenError as exc:
            raise fail(str(exc)) from None
    print(secret)


@token_app.command("list")
def token_list(config: ConfigOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None) -> None:
    """Every token: name, role, created, revoked (never the secret)."""
    from tradewarden.api import tokens

    cfg = load_state_config(config, data_dir, db_url)
    with open_risk_store(cfg) as store:
        found = tokens.list_tokens(store.db)
    if not found:
        out.print("no API tokens")
    for t in found:
        out.print(f"{esc(t.name)}  {t.role}  created {_when(t.created)}"
                  + (f"  REVOKED {_when(t.revoked)}" if t.revoked else ""))


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name.")], config: ConfigOpt = None,
                 data_dir: DataDirOpt = None, db_url: DbUrlOpt = None) -> None:
    """Revoke a token: it opens nothing from now on."""
    from tradewarden.api import tokens

    cfg = load_state_config(config, data_dir, db_url)
    with open_risk_store(cfg) as store:
        try:
            tokens.revoke(store.db, name, _now_ms())
        except tokens.TokenError as exc:
            raise fail(str(exc)) from None
    out.print(f"revoked {esc(name)}")
