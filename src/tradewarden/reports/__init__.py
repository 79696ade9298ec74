"""Reports from what the bot recorded (the database and the run directories' events): daily, weekly and a
period judged GO / CONTINUE / NO-GO against success criteria. Markdown and a self-contained HTML page each,
in ``<data dir>/reports/`` (docs/REPORTS.md)."""

from tradewarden.reports.jobs import JobResult, daily_report, daily_report_job, period_report, weekly_report

__all__ = ["JobResult", "daily_report", "daily_report_job", "period_report", "weekly_report"]
