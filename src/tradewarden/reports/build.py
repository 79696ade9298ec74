"""A report of one period: the facts gathered, the weekly metrics, the markdown and HTML files written 0600."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path

import numpy as np

from tradewarden.config import AppConfig
from tradewarden.domain.trades import Trade
from tradewarden.persistence.database import Database
from tradewarden.private_files import private_dir, write_private
from tradewarden.reports.events import read_events
from tradewarden.reports.facts import DAY_MS, Facts, ReportDataError, audit_gaps, read_database

REPORTS_DIR = "reports"


@dataclass(frozen=True)
class Performance:
    """The weekly/period metrics, by the backtest's formulas (:mod:`tradewarden.backtest.metrics`)."""

    sharpe: float | None
    max_drawdown_pct: float | None
    best: Trade | None
    worst: Trade | None


def day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def gather(cfg: AppConfig, start: date, end: date, runs_dir: Path | None = None,
           now_ms: int | None = None) -> Facts:
    """Everything recorded from ``start`` to ``end`` (both whole UTC days, end included)."""
    facts = Facts(day_ms(start), day_ms(end) + DAY_MS)
    from tradewarden.risk.config import load_risk_config

    limit = load_risk_config(cfg.risk).effective().max_position_notional
    db = Database.open(cfg.database.url, cfg.data_dir)
    try:
        read_database(db, facts, limit)
        audit_gaps(db, cfg.data_dir, facts)
    finally:
        db.close()
    read_events(runs_dir or cfg.backtest.out_dir, facts, cfg.runtime.heartbeat_s,
                int(time.time() * 1000) if now_ms is None else now_ms)
    return facts


def performance(facts: Facts, timeframe_ms: int) -> Performance:
    from tradewarden.backtest.metrics import compute_metrics

    best = max(facts.trades, key=lambda t: t.pnl, default=None)
    worst = min(facts.trades, key=lambda t: t.pnl, default=None)
    if not facts.equity:
        return Performance(None, None, best, worst)
    ts = np.array([t for t, _ in facts.equity], dtype=np.int64)
    eq = np.array([float(e) for _, e in facts.equity], dtype=np.float64)
    initial = facts.equity_before if facts.equity_before is not None else facts.equity[0][1]
    m = compute_metrics(ts, eq, facts.trades, facts.fees, 0, timeframe_ms, initial)
    return Performance(m["sharpe"]["value"], m["max_drawdown"]["value"], best, worst)


# -- rendering -------------------------------------------------------------------------------------------
Rows = list[tuple[str, str]]


def money(x: Decimal | None) -> str:
    """Exact, without trailing zeros (an equity counted in atoms carries seven decimals of them)."""
    return "not recorded" if x is None else f"{x.normalize():f}"


def sections(facts: Facts, perf: Performance | None) -> list[tuple[str, Rows]]:
    """The report's content, once, for both formats."""
    summary: Rows = [
        ("PnL (equity change)", money(facts.pnl)),
        ("realised PnL (net of fees)", money(facts.realised_pnl)),
        ("unrealised PnL", money(facts.unrealised_pnl)),
        ("trades closed", str(len(facts.trades))),
        ("win rate", "no trades" if facts.win_rate_pct is None else f"{facts.win_rate_pct}%"),
        ("fills", str(facts.fills)),
        ("fees", money(facts.fees)),
    ]
    if perf is not None:
        summary += [
            ("Sharpe", "not enough data" if perf.sharpe is None else str(perf.sharpe)),
            ("max drawdown", "not enough data" if perf.max_drawdown_pct is None else f"{perf.max_drawdown_pct}%"),
            ("best trade", "-" if perf.best is None else f"{perf.best.symbol} {money(perf.best.pnl)}"),
            ("worst trade", "-" if perf.worst is None else f"{perf.worst.symbol} {money(perf.worst.pnl)}"),
        ]
    per_symbol: Rows = [(sym, f"{s.trades} trades, {s.wins} won, PnL {money(s.realised_pnl)}, "
                              f"{s.fills} fills, fees {money(s.fees)}")
                        for sym, s in sorted(facts.symbols.items())]
    risk: Rows = [(f"denied: {code}", str(n)) for code, n in sorted(facts.denials.items())]
    risk += [("breaker trips", str(len(facts.breaker_trips)))] + [("breaker", b) for b in facts.breaker_trips]
    risk += [("kill-switch activations", str(facts.kill_switch_activations)),
             ("position-limit breaches", str(facts.position_breaches)),
             ("fills missing from the audit trail", str(len(facts.unaudited_fills)))]
    ops: Rows = [
        ("uptime", "no session ran" if facts.uptime_pct is None else f"{facts.uptime_pct}%"),
        ("reconnects", str(facts.reconnects)),
        ("candles missed", str(facts.candles_missed)),
        ("peak memory", "not recorded" if facts.peak_rss_mb is None else f"{facts.peak_rss_mb} MB"),
        ("restarts", str(facts.restarts)),
    ]
    incidents: Rows = [(datetime.fromtimestamp(i.ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                        f"{i.kind}: {i.detail}") for i in facts.incidents] or [("-", "none")]
    return [("Summary", summary), ("Per symbol", per_symbol or [("-", "no trading")]), ("Risk", risk),
            ("Operations", ops), ("Incidents", incidents)]


def markdown(title: str, parts: list[tuple[str, Rows]], extra: list[str] | None = None) -> str:
    lines = [f"# {title}", ""]
    for head, rows in parts:
        lines += [f"## {head}", "", "| | |", "|---|---|"]
        lines += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows] + [""]
    return "\n".join(lines + (extra or []))


def html(title: str, parts: list[tuple[str, Rows]], chart: str = "", extra: list[str] | None = None) -> str:
    body = [f"<h1>{escape(title)}</h1>"]
    for head, rows in parts:
        body.append(f"<h2>{escape(head)}</h2><table>"
                    + "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows) + "</table>")
    if chart:
        body.append(f"<h2>Equity</h2>{chart}")
    body += [f"<p>{escape(x)}</p>" for x in extra or []]
    # the backtest report's chart styles (backtest/report_template.html), so the inline SVG reads the same
    style = ("body{font:14px/1.45 system-ui,sans-serif;color:#1d2430;max-width:1200px;margin:auto;padding:24px}"
             "table{border-collapse:collapse;font-variant-numeric:tabular-nums}"
             "th,td{border-bottom:1px solid #e4e7ec;padding:3px 10px;text-align:left}th{font-weight:500}"
             "svg.chart{width:100%;height:auto;display:block}svg .grid{stroke:#e4e7ec;stroke-width:1}"
             "svg .frame{fill:none;stroke:#d0d5dd}svg text{font:11px system-ui,sans-serif;fill:#667085}"
             "svg .ylab{text-anchor:end}svg .xlab{text-anchor:middle}"
             "svg .equity{fill:none;stroke:#2f5bea;stroke-width:1.5;stroke-linejoin:round}")
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def equity_chart(facts: Facts) -> str:
    if len(facts.equity) < 2:
        return ""
    from tradewarden.backtest import report_charts as charts

    ts = np.array([t for t, _ in facts.equity], dtype=np.int64)
    eq = np.array([float(e) for _, e in facts.equity], dtype=np.float64)
    svg, _ = charts.line_chart(ts, eq, int(ts[-1]), 240, "", "Equity", "equity")
    return svg


def write_report(cfg: AppConfig, name: str, title: str, facts: Facts, perf: Performance | None,
                 extra: list[str] | None = None) -> tuple[Path, Path]:
    """``<data dir>/reports/<name>.md`` and ``.html``, both 0600."""
    out = private_dir(cfg.data_dir / REPORTS_DIR, "reports directory")
    parts = sections(facts, perf)
    md, page = out / f"{name}.md", out / f"{name}.html"
    write_private(md, markdown(title, parts, extra))
    write_private(page, html(title, parts, equity_chart(facts) if perf is not None else "", extra))
    return md, page


def latest_day(facts_probe: Facts) -> date | None:
    """The day of the newest record in ``facts_probe`` (gathered over all time), None when there is none."""
    if facts_probe.last_ms is None:
        return None
    return datetime.fromtimestamp(facts_probe.last_ms / 1000, UTC).date()


def iso_week(week: str) -> tuple[date, date]:
    """``YYYY-Www`` -> (Monday, Sunday); :class:`ReportDataError` naming the value when it is not one."""
    try:
        monday = datetime.strptime(week + "-1", "%G-W%V-%u").date()
    except ValueError:
        raise ReportDataError(f"--week {week!r} is not an ISO week like 2026-W05") from None
    return monday, monday + timedelta(days=6)
