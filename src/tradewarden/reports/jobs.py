"""The reports as functions: for the CLI, and for the running bot's scheduler (:func:`daily_report_job`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tradewarden.config import AppConfig
from tradewarden.domain.candles import timeframe_ms
from tradewarden.reports.build import gather, iso_week, latest_day, money, performance, write_report
from tradewarden.reports.facts import Facts
from tradewarden.reports.period import judge_period, load_criteria
from tradewarden.risk.criteria import Verdict

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def daily_report(cfg: AppConfig, day: date | None = None, runs_dir: Path | None = None) -> tuple[Path, Path] | None:
    """``daily_YYYY-MM-DD.md``/``.html``; ``day`` None: the latest day with data (None when there is none)."""
    if day is None:
        day = latest_day(gather(cfg, date(1970, 1, 2), date(9999, 12, 30), runs_dir))
        if day is None:
            return None
    facts = gather(cfg, day, day, runs_dir)
    return write_report(cfg, f"daily_{day.isoformat()}", f"Daily report {day.isoformat()}", facts, None)


def weekly_report(cfg: AppConfig, week: str, runs_dir: Path | None = None) -> tuple[Path, Path]:
    """``weekly_YYYY-Www.md``/``.html``: the daily facts over the ISO week plus Sharpe, drawdown, best and worst
    trade and the equity chart."""
    monday, sunday = iso_week(week)
    facts = gather(cfg, monday, sunday, runs_dir)
    perf = performance(facts, timeframe_ms(cfg.market.timeframe))
    return write_report(cfg, f"weekly_{week}", f"Weekly report {week}", facts, perf)


def period_report(cfg: AppConfig, start: date, end: date, criteria: Path | None = None,
                  runs_dir: Path | None = None) -> tuple[Verdict, tuple[Path, Path]]:
    """The period's facts judged against the criteria (docs/REPORTS.md has the rule); writes
    ``period_<from>_<to>.md``/``.html`` with the verdict."""
    thresholds = load_criteria(criteria)
    facts = gather(cfg, start, end, runs_dir)
    perf = performance(facts, timeframe_ms(cfg.market.timeframe))
    verdict = judge_period(thresholds, facts, perf)
    lines = [f"Decision: {verdict.decision}"]
    lines += [f"{'deciding: ' if j in verdict.deciding else ''}{j.threshold.name} {j.required}: {j.shown} -> "
              f"{'met' if j.met else 'not recorded' if j.met is None else 'NOT met'}" for j in verdict.judged]
    files = write_report(cfg, f"period_{start.isoformat()}_{end.isoformat()}",
                         f"Period {start.isoformat()} to {end.isoformat()}", facts, perf, lines)
    return verdict, files


@dataclass(frozen=True)
class JobResult:
    files: list[Path]
    summary: str   # one line for the operator's notification


def summary_line(day: date, facts: Facts) -> str:
    win = "-" if facts.win_rate_pct is None else f"{facts.win_rate_pct}%"
    up = "no session" if facts.uptime_pct is None else f"{facts.uptime_pct}%"
    return (f"daily report {day.isoformat()}: PnL {money(facts.pnl)} (realised {money(facts.realised_pnl)}), "
            f"{len(facts.trades)} trades, win rate {win}, fees {money(facts.fees)}; uptime {up}, "
            f"{facts.reconnects} reconnects, {facts.kill_switch_activations} kill-switch activations, "
            f"{len(facts.incidents)} incidents")


def daily_report_job(cfg: AppConfig, now: datetime | None = None) -> JobResult:
    """What the running bot calls at ``runtime.daily_summary_utc`` (blocking file and database work: run it off
    the event loop): the report of the UTC day that just ended, and on ``reports.weekly_day`` the weekly report
    of the ISO week that holds that day. Returns the files and a one-line summary to send."""
    today = (now or datetime.now(UTC)).date()
    yesterday = today - timedelta(days=1)
    facts = gather(cfg, yesterday, yesterday)
    written = list(write_report(cfg, f"daily_{yesterday.isoformat()}", f"Daily report {yesterday.isoformat()}",
                                facts, None))
    if WEEKDAYS[today.weekday()] == cfg.reports.weekly_day:
        last = yesterday.isocalendar()
        written += weekly_report(cfg, f"{last.year}-W{last.week:02d}")
    return JobResult(written, summary_line(yesterday, facts))
