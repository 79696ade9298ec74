"""The node's periodic jobs: what the builder declares on the session's scheduler for a config."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tradewarden.config import load_config
from tradewarden.node import builder


class RecordingScheduler:
    """Stands in for SessionScheduler: records the jobs declared and runs one on demand."""

    def __init__(self) -> None:
        self.jobs: dict[str, Callable[[], None]] = {}

    def daily_at(self, name: str, at: str, fn: Callable[[], None]) -> None:
        self.jobs[name] = fn

    def every(self, name: str, seconds: float, fn: Callable[[], None]) -> None:
        self.jobs[name] = fn

    def watch_file(self, name: str, path: Path, fn: Callable[[Path], None]) -> None:
        self.jobs[name] = lambda: fn(path)


def _declared(tmp_path: Path, mode: str, **settings: Any) -> RecordingScheduler:
    cfg = load_config(None, {"data_dir": str(tmp_path), **settings}, env={})
    sched = RecordingScheduler()
    loop = asyncio.new_event_loop()
    try:
        builder.schedule(sched, cfg, mode, lambda fn: None, loop, lambda: None, lambda: None,  # type: ignore[arg-type]
                         lambda path: None)
    finally:
        loop.close()
    return sched


def test_paper_declares_the_daily_summary_and_report_but_no_reconciliation_or_backup(tmp_path: Path) -> None:
    jobs = set(_declared(tmp_path, "paper").jobs)
    assert {"daily-summary", "daily-report"} <= jobs
    assert "reconcile" not in jobs and not any("backup" in name for name in jobs)


def test_live_reconciles_and_a_backup_schedule_is_declared_when_configured(tmp_path: Path) -> None:
    jobs = set(_declared(tmp_path, "live", **{"backup.every_hours": "6"}).jobs)
    assert "reconcile" in jobs
    assert any("backup" in name for name in jobs)


def test_the_daily_report_job_runs_and_logs_its_summary(tmp_path: Path, caplog: Any) -> None:
    import logging

    sched = _declared(tmp_path, "paper")
    with caplog.at_level(logging.INFO, logger="tradewarden.node.builder"):
        sched.jobs["daily-report"]()
    lines = [r.getMessage() for r in caplog.records if r.name == "tradewarden.node.builder"]
    assert any(line.startswith("daily report: ") for line in lines), lines
