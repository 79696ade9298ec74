"""``tradewarden report daily|weekly|period``: reports from the bot's database and run directories.

``period`` exits 0 for GO, 4 for CONTINUE, 5 for NO-GO. As everywhere: 2 for bad input (a date, a criteria
file, an unreadable event line), 1 when the database or the reports directory fails."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tradewarden.cli.errors import fail, user_errors
from tradewarden.cli.state import ConfigOpt, DataDirOpt, DbUrlOpt, load_state_config

out = Console(highlight=False, soft_wrap=True)
report_app = typer.Typer(help="Daily, weekly and period reports (markdown and HTML in <data dir>/reports).",
                         no_args_is_help=True)
EXIT = {"GO": 0, "CONTINUE": 4, "NO-GO": 5}
RunsOpt = Annotated[Path | None, typer.Option(
    "--runs", file_okay=False, help="Where the run directories are [default: the config's backtest.out_dir].")]


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r} is not a date like 2026-01-31") from None


def _done(files: tuple[Path, Path]) -> None:
    for f in files:
        out.print(f"written: {f}", markup=False)


@report_app.command("daily")
def daily(config: ConfigOpt = None,
          day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD [default: the latest day with data].")]
          = None, runs: RunsOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None) -> None:
    """PnL, trades, fees per symbol; risk denials, breakers, kill switch; uptime, reconnects; incidents."""
    from tradewarden.reports import daily_report

    cfg = load_state_config(config, data_dir, db_url)
    wanted = None if day is None else _date(day, "--date")
    with user_errors():
        made = daily_report(cfg, wanted, runs)
    if made is None:
        out.print("no data recorded yet: nothing to report")
        return
    _done(made)


@report_app.command("weekly")
def weekly(config: ConfigOpt = None,
           week: Annotated[str | None, typer.Option("--week", help="YYYY-Www [default: the current ISO week].")]
           = None, runs: RunsOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None) -> None:
    """The daily facts over an ISO week, with Sharpe, max drawdown, best and worst trade and the equity chart."""
    from tradewarden.reports import weekly_report

    cfg = load_state_config(config, data_dir, db_url)
    if week is None:
        iso = datetime.now(UTC).date().isocalendar()
        week = f"{iso.year}-W{iso.week:02d}"
    with user_errors():
        made = weekly_report(cfg, week, runs)
    _done(made)


@report_app.command("period")
def period(start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
           end: Annotated[str, typer.Option("--to", help="Last day (included), YYYY-MM-DD.")],
           config: ConfigOpt = None,
           criteria: Annotated[Path | None, typer.Option(
               "--criteria", dir_okay=False, help="A TOML file with a [criteria] table [default: the built-in "
                                                  "criteria, docs/REPORTS.md].")] = None,
           runs: RunsOpt = None, data_dir: DataDirOpt = None, db_url: DbUrlOpt = None) -> None:
    """Judge a period against the success criteria: GO (exit 0), CONTINUE (4) or NO-GO (5)."""
    from tradewarden.reports import period_report

    cfg = load_state_config(config, data_dir, db_url)
    first, last = _date(start, "--from"), _date(end, "--to")
    if last < first:
        raise fail(f"--to {end} is before --from {start}")
    with user_errors():
        verdict, files = period_report(cfg, first, last, criteria, runs)
    for j in verdict.judged:
        state = "" if j.met is None else " (met)" if j.met else " (NOT met)"
        out.print(f"  {j.threshold.name} {j.required}: {j.shown}{state}", markup=False)
    why = ", ".join(j.threshold.name for j in verdict.deciding)
    out.print(f"decision: {verdict.decision} (decided by: {why})", markup=False)
    _done(files)
    raise typer.Exit(EXIT[verdict.decision])
