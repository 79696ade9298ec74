"""The run directories' events as report facts: risk, uptime, the feed, memory, incidents.

Uptime is what the heartbeats recorded, not a reconstruction: a run is up from its ``RunStarted`` through
each ``Heartbeat`` (and its ``RunFinished``) that follows within ``gap_ms`` (three heartbeat intervals) of the
previous sign of life; a longer silence is downtime. Backtests are skipped (their ``RunStarted`` mode is ``backtest``).
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

from tradewarden.domain.events import EventType as E
from tradewarden.reports.facts import INCIDENTS, Facts, Incident, ReportDataError, day_of, in_period

SESSION_MODES = ("paper", "shadow", "live")


def run_event_files(runs_dir: Path) -> list[Path]:
    """``events.jsonl`` of every run directory directly under ``runs_dir``, oldest name first; each run once (a
    link such as ``runs/latest`` names a run already counted)."""
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.glob("*/events.jsonl") if p.is_file() and not p.parent.is_symlink())


def _read(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                if not line.endswith("\n"):
                    break   # a line the running bot is still writing
                raise ReportDataError(f"{path} line {n}: not a JSON event") from None
            if not isinstance(record, dict) or not isinstance(record.get("ts"), int) or "type" not in record:
                raise ReportDataError(f"{path} line {n}: an event needs an integer 'ts' and a 'type'")
            out.append(record)
    return out


def _uptime(records: list[dict[str, Any]], facts: Facts, gap_ms: int) -> None:
    """Adds this run's up time inside the period to ``facts.up_ms``."""
    marks = sorted(r["ts"] for r in records if r["type"] in (E.RUN_STARTED, E.HEARTBEAT, E.RUN_FINISHED))
    for a, b in pairwise(marks):
        if b - a <= gap_ms:
            facts.up_ms += max(0, min(b, facts.end_ms) - max(a, facts.start_ms))


def read_events(runs_dir: Path, facts: Facts, heartbeat_s: float, now_ms: int) -> int:
    """Adds every session run's events inside the period to ``facts``; returns how many runs were read.

    The observed time runs from the period's start (or the first session's start, if later) to its end (or
    now): a period before the bot first ran does not count as downtime."""
    gap_ms = int(heartbeat_s * 3000)
    runs = 0
    first: int | None = None
    for path in run_event_files(runs_dir):
        records = _read(path)
        started = next((r for r in records if r["type"] == E.RUN_STARTED), None)
        if started is None or started.get("mode") not in SESSION_MODES:
            continue
        runs += 1
        first = started["ts"] if first is None else min(first, started["ts"])
        _uptime(records, facts, gap_ms)
        for r in records:
            facts.seen(r["ts"])
            if in_period(r["ts"], facts):
                _one(r, facts)
    if first is not None:
        facts.observed_ms = max(0, min(facts.end_ms, now_ms) - max(facts.start_ms, first))
    return runs


def _one(r: dict[str, Any], facts: Facts) -> None:
    kind = r["type"]
    if kind == E.ORDER_DENIED:
        facts.denials[str(r.get("reason_code"))] += 1
    elif kind == E.CIRCUIT_BREAKER_TRIPPED:
        facts.breaker_trips.append(f"{r.get('breaker')} ({r.get('scope')}): {r.get('action')}")
    elif kind == E.KILL_SWITCH_ACTIVATED:
        facts.kill_switch_activations += 1
    elif kind == E.FEED_RECONNECTED:
        facts.reconnects_by_day[day_of(r["ts"])] += 1
    elif kind == E.BARS_MISSING:
        facts.candles_missed += len(r.get("symbols") or [])
    elif kind == E.DATA_GAP:
        facts.candles_missed += int(r.get("missing_candles") or 0)
    elif kind == E.HEARTBEAT and isinstance(r.get("rss_mb"), int | float):
        facts.peak_rss_mb = max(facts.peak_rss_mb or 0.0, float(r["rss_mb"]))
    if kind in INCIDENTS or (kind == E.TRADING_STATE_CHANGED and r.get("to") == "HALTED"):
        detail = r.get("reason") or r.get("message") or r.get("what_to_do") or ""
        if kind == E.RECONCILE_MISMATCH:
            detail = f"{len(r.get('mismatches') or [])} mismatch(es)"
        elif kind == E.SESSION_RESUMED:
            detail = f"restart: {r.get('open_orders')} open orders, {r.get('fills')} fills"
        facts.incidents.append(Incident(r["ts"], str(kind), str(detail)))
