"""``optimization.html``: one self-contained page (inline SVG and CSS, no scripts, nothing fetched):
the optimization history, parameter importances, and the in-sample / out-of-sample comparison."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradewarden.optimize.analysis import walk_forward_table
from tradewarden.private_files import write_private

if TYPE_CHECKING:
    from tradewarden.optimize.runner import Analysis, GateOutcome

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
.flag{color:#b00;font-weight:bold}.ok{color:#070;font-weight:bold}.muted{color:#777}
svg text{font:11px system-ui,sans-serif;fill:#444}
"""
W, H, PAD = 900, 280, 48


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return escape(str(x))


def _table(head: list[str], rows: list[list[Any]]) -> str:
    h = "".join(f"<th>{escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def _scale(lo: float, hi: float, a: float, b: float) -> Any:
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def history_svg(history: list[tuple[int, float]]) -> str:
    """Each completed trial's value (dots) and the best value so far (line)."""
    if not history:
        return "<p class=muted>no completed trials</p>"
    xs = [n for n, _ in history]
    ys = [v for _, v in history]
    lo, hi = min(ys), max(ys)
    sx = _scale(min(xs), max(xs) or 1, PAD, W - 10)
    sy = _scale(lo, hi, H - 30, 10)
    dots = "".join(
        f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="#4a7fd4" fill-opacity=".6"/>'
        for x, y in history
    )
    best, pts = float("-inf"), []
    for x, y in history:
        best = max(best, y)
        pts.append(f"{sx(x):.1f},{sy(best):.1f}")
    axes = (
        f'<line x1="{PAD}" y1="{H - 30}" x2="{W - 10}" y2="{H - 30}" stroke="#999"/>'
        f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{H - 30}" stroke="#999"/>'
        f'<text x="{PAD - 4}" y="{sy(hi) + 4:.1f}" text-anchor="end">{hi:.3g}</text>'
        f'<text x="{PAD - 4}" y="{sy(lo) + 4:.1f}" text-anchor="end">{lo:.3g}</text>'
        f'<text x="{(W + PAD) / 2}" y="{H - 8}" text-anchor="middle">trial number</text>'
    )
    return (
        f'<svg width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">{axes}{dots}'
        f'<polyline points="{" ".join(pts)}" fill="none" stroke="#d45a2a" stroke-width="2"/></svg>'
        "<p class=muted>dots: trial value; line: best so far</p>"
    )


def bars_svg(items: list[tuple[str, float]], width: int = 600) -> str:
    """Horizontal bars for values in [0, 1] (parameter importances)."""
    if not items:
        return "<p class=muted>not enough completed trials to estimate importances</p>"
    row, left = 24, 140
    h = row * len(items) + 10
    parts = []
    for i, (name, v) in enumerate(items):
        y = 5 + i * row
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{max(1.0, v * (width - left - 60)):.1f}" height="16" '
            f'fill="#4a7fd4"/><text x="{left + v * (width - left - 60) + 6:.1f}" y="{y + 15}">{v:.2f}</text>'
        )
    return f'<svg width="{width}" height="{h}" viewBox="0 0 {width} {h}">{"".join(parts)}</svg>'


def paired_svg(labels: list[str], a: list[float], b: list[float]) -> str:
    """Grouped bars: in-sample (a) and out-of-sample (b) per label, with a zero line."""
    if not labels:
        return ""
    lo, hi = min([0.0, *a, *b]), max([0.0, *a, *b])
    sy = _scale(lo, hi, H - 30, 10)
    group = (W - PAD - 10) / len(labels)
    bw = min(40.0, group / 3)
    parts = [
        f'<line x1="{PAD}" y1="{sy(0):.1f}" x2="{W - 10}" y2="{sy(0):.1f}" stroke="#999"/>',
        f'<text x="{PAD - 4}" y="{sy(hi) + 4:.1f}" text-anchor="end">{hi:.3g}</text>',
        f'<text x="{PAD - 4}" y="{sy(lo) + 4:.1f}" text-anchor="end">{lo:.3g}</text>',
    ]
    for i, label in enumerate(labels):
        x0 = PAD + i * group + group / 2 - bw
        for j, (v, colour) in enumerate(((a[i], "#4a7fd4"), (b[i], "#d45a2a"))):
            y, y0 = sy(v), sy(0)
            parts.append(
                f'<rect x="{x0 + j * bw:.1f}" y="{min(y, y0):.1f}" width="{bw - 2:.1f}" '
                f'height="{abs(y0 - y):.1f}" fill="{colour}"/>'
            )
        parts.append(f'<text x="{x0 + bw:.1f}" y="{H - 12}" text-anchor="middle">{escape(label)}</text>')
    return (
        f'<svg width="{W}" height="{H}" viewBox="0 0 {W} {H}">{"".join(parts)}</svg>'
        '<p class=muted><span style="color:#4a7fd4">&#9632;</span> in-sample '
        '<span style="color:#d45a2a">&#9632;</span> out-of-sample</p>'
    )


def _verdict(overfit: bool, reason: str) -> str:
    cls, word = ("flag", "OVERFIT") if overfit else ("ok", "ok")
    return f'<p><span class="{cls}">{word}</span>: {escape(reason)}</p>'


def render(a: Analysis, gate: GateOutcome | None = None) -> str:
    job, plan = a.prepared.job, a.prepared.plan
    obj = job.objective
    wf = a.walk_forward
    n = len(plan.windows)
    labels = [f"w{i}" for i in range(n)]
    ts = a.prepared.series.ts
    tf = int(ts[1] - ts[0]) if len(ts) > 1 else 0
    from tradewarden.optimize.runner import data_range

    dr = data_range(a.prepared)
    which = "out-of-sample" if job.select_by == "oos" else "in-sample"
    win_rows = [
        [
            f"w{w.index}",
            _day(int(ts[w.is_start])),
            _day(int(ts[w.is_end - 1]) + tf),
            _day(int(ts[w.oos_start])),
            _day(int(ts[w.oos_end - 1]) + tf),
        ]
        for w in plan.windows
    ]
    parts = [
        f"<h1>Optimization: {escape(a.prepared.strategy_cls.name)} on {escape(dr.symbol)} "
        f"{escape(dr.timeframe)}</h1>",
        f"<p>study <b>{escape(a.study_name)}</b> ({escape(a.storage)}), objective <b>{escape(obj)}</b> "
        f"(trial value = mean over windows of the {which} "
        f"{escape(obj)}), trials: {escape(a.trials_summary)}</p>",
        f"<p>data {dr.start:%Y-%m-%d} to {dr.end:%Y-%m-%d} ({dr.bars} bars); "
        f"search to {dr.search_end:%Y-%m-%d}; "
        f"holdout {dr.holdout_start:%Y-%m-%d} to {dr.holdout_end:%Y-%m-%d}, never seen by the search</p>",
        f"<p>chosen parameters (trial {a.best.number}, value {a.best_value:.4g}): "
        f"<b>{escape(', '.join(f'{k}={v}' for k, v in a.best.params.items()))}</b></p>",
        "<h2>Optimization history</h2>",
        history_svg(a.history),
        "<h2>Parameter importances</h2>",
        bars_svg(sorted(a.importances.items(), key=lambda kv: -kv[1])),
        "<h2>Holdout: chosen parameters in-sample (search period) vs out-of-sample (holdout)</h2>",
        _table(
            ["metric", "in-sample", "out-of-sample"],
            [[k, a.final.in_sample[k], a.final.out_of_sample[k]] for k in a.final.in_sample]
            + [["trades", a.final.trades_in_sample, a.final.trades_out_of_sample]],
        ),
        _verdict(a.holdout_check.overfit, f"{obj}: {a.holdout_check.reason}"),
        "<h2>Walk-forward: refit on each in-sample window, scored on the next out-of-sample window "
        f"({obj})</h2>",
        paired_svg(labels, [r.in_sample for r in wf.rows], [r.out_of_sample for r in wf.rows]),
        _table(*walk_forward_table(wf, obj)),
        _verdict(wf.check.overfit, wf.check.reason),
        f"<h2>The chosen parameters on each window ({obj})</h2>",
        paired_svg(labels, list(a.best.scores.is_), list(a.best.scores.oos)),
        "<h2>Windows</h2>",
        _table(["window", "in-sample from", "to", "out-of-sample from", "to"], win_rows),
        f"<p class=muted>{'anchored' if plan.anchored else 'rolling'} windows; overfitting is flagged "
        "when the "
        f"out-of-sample score is below {a.threshold:.0%} of a positive in-sample score.</p>",
    ]
    if gate is not None:
        d = gate.decision
        parts += [
            "<h2>Re-optimization gate</h2>",
            _table(
                ["", "current", "new"],
                [
                    [
                        "parameters",
                        ", ".join(f"{k}={v}" for k, v in gate.current_params.items()),
                        ", ".join(f"{k}={v}" for k, v in a.best.params.items()),
                    ],
                    ["holdout sharpe", d.current_oos_sharpe, d.new_oos_sharpe],
                ],
            ),
            _verdict(not d.apply, d.reason).replace("OVERFIT", "KEEP").replace(">ok<", ">APPLY<"),
        ]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>optimization "
        f"{escape(a.study_name)}</title><style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def _day(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def write_report(path: Path, a: Analysis, gate: GateOutcome | None = None) -> None:
    write_private(path, render(a, gate))
