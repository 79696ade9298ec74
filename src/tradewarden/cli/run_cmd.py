"""``tradewarden run`` (paper, shadow, live) and ``tradewarden replay``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tradewarden.cli.errors import fail, user_errors

console = Console()


def run(
    mode: Annotated[str, typer.Option(help="paper (simulated fills), shadow (orders only logged) or live.")] = "paper",
    config: Annotated[Path | None, typer.Option(help="Config file (TOML or YAML).")] = None,
    duration: Annotated[str | None, typer.Option(help="Stop after this much market time, e.g. 10m, 10h, 2d.")] = None,
    live_confirm: Annotated[str | None, typer.Option(help="The effective config's hash, to arm live trading "
                                                     "(with LIVE_TRADING=YES_I_UNDERSTAND).")] = None,
    adopt: Annotated[bool, typer.Option(help="On a reconciliation mismatch, take the exchange's view.")] = False,
    out: Annotated[Path | None, typer.Option(help="Run directory (default runs/<time>-<mode>-<symbol>).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Any config setting key=value (repeatable).")] = None,
    symbols: Annotated[str | None, typer.Option(help="Several symbols on one account with one cash balance, "
                                                "e.g. BTC/USDT,ETH/USDT (market.symbols).")] = None,
    live_console: Annotated[bool | None, typer.Option("--console/--no-console", help="The live panel (default: "
                                                      "on a terminal).")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics at /metrics on this port "
                                                     "(observability.metrics_port; loopback unless "
                                                     "observability.metrics_host says otherwise).")] = None,
) -> None:
    """Trade autonomously: paper, shadow or live, on the same engine as the backtest.

    With no exchange configured, paper and shadow run against the built-in exchange simulator.
    """
    from tradewarden.config import parse_overrides
    from tradewarden.node.node import RunOptions, run_session

    with user_errors():
        if mode not in ("paper", "shadow", "live"):
            raise fail(f"unknown mode {mode!r}; use paper, shadow or live")
        overrides: dict[str, Any] = parse_overrides(list(set_ or []))
        if symbols is not None:
            overrides["market.symbols"] = symbols
        if metrics_port is not None:
            overrides["observability.metrics_port"] = metrics_port
        opts = RunOptions(mode=mode, config=config, overrides=overrides, duration=duration,
                          live_confirm=live_confirm, adopt=adopt, out_dir=out, console=live_console)
        outcome = run_session(opts, console_print=console.print)
    if outcome.exit_code != 0:
        raise typer.Exit(outcome.exit_code)
    if outcome.metrics:
        from tradewarden.backtest.reports import print_summary

        print_summary(console, outcome.metrics, f"{mode} session ({outcome.candles} candles; {outcome.reason})")
    console.print(f"run directory: {outcome.run_dir} (events.jsonl, trades.csv, equity.csv, summary.json, "
                  "recording.jsonl)")


def replay(
    recording: Annotated[Path, typer.Argument(help="recording.jsonl written by a session.")],
    out: Annotated[Path | None, typer.Option(help="Where to write the replay's run directory.")] = None,
) -> None:
    """Re-run a recorded session deterministically: the same candles through the same engine and config."""
    from tradewarden.runtime.replay import replay_recording

    with user_errors():
        result = replay_recording(recording, out)
    console.print(f"replayed {result.candles} candles: {result.orders} orders, {result.fills} fills; "
                  f"events in {result.run_dir / 'events.jsonl'}")
