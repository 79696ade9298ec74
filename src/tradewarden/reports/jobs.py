"""The reports as functions: for the CLI, and for the running bot's scheduler (:func:`daily_report_job`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tradewarden.config import AppConfig
from tradewarden.domain.candles import timeframe_ms
from tradewarden.reports.build import gather, iso_week, latest_day, performance, write_report
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


def daily_report_job(cfg: AppConfig, now: datetime | None = None) -> list[Path]:
    """What the running bot calls at ``runtime.daily_summary_utc``: the report of the day that just ended, and on
    ``reports.weekly_day`` (config) the weekly report of the ISO week that just ended. Returns the files."""
    today = (now or datetime.now(UTC)).date()
    yesterday = today - timedelta(days=1)
    written: list[Path] = []
    made = daily_report(cfg, yesterday)
    if made is not None:
        written += made
    if WEEKDAYS[today.weekday()] == cfg.reports.weekly_day:
        last = yesterday.isocalendar()
        written += weekly_report(cfg, f"{last.year}-W{last.week:02d}")
    return written
