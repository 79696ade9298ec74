"""The report files of a backtest run and its terminal summary.

* ``trades.csv``: one row per round trip; times both as ISO (UTC) and ms; prices, quantities and money as
  exact decimals.
* ``equity.csv``: ``timestamp,equity,drawdown_pct`` per bar; ``timestamp`` is the bar open time in ms UTC,
  like the candle files, so the two join on it.
* ``summary.json``: ``{"run": ..., "metrics": ...}``; never NaN or Infinity.
* ``summary.html``: one self-contained page (inline CSS and SVG, no script, nothing fetched): price with
  trade markers, equity, drawdown, the metrics, the run settings and the trades.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from rich.console import Console
from rich.table import Table

from tradewarden.backtest import report_charts as charts
from tradewarden.backtest.metrics import Trade, drawdown_pct, trade_returns_pct
from tradewarden.backtest.report_csv import write_columns_csv
from tradewarden.private_files import write_private

__all__ = [
    "TRADE_COLUMNS",
    "drawdown_pct",
    "format_metric",
    "print_summary",
    "write_equity_csv",
    "write_summary_html",
    "write_summary_json",
    "write_trades_csv",
]

TRADE_COLUMNS = ("symbol", "side", "entry_time", "entry_ts", "exit_time", "exit_ts", "entry_price",
                 "exit_price", "qty", "pnl", "fees", "return_pct", "exit_reason")
EQUITY_COLUMNS = ("timestamp", "equity", "drawdown_pct")
TABLE_HEAD_TAIL = 100        # the HTML lists the first and last this many trades when there are more

LABELS = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "max_drawdown": "Max drawdown",
    "max_drawdown_duration": "Longest drawdown",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "avg_trade_return": "Average trade return",
    "trade_count": "Trades",
    "gross_profit": "Gross profit",
    "gross_loss": "Gross loss",
    "exposure": "Exposure",
    "fees_paid": "Fees paid",
    "initial_cash": "Initial cash",
    "final_equity": "Final equity",
    "start": "Start",
    "end": "End",
    "bars": "Bars",
    "risk_denials": "Risk denials",
    "breaker_trips": "Breaker trips",
}
CARD_KEYS = ("total_return", "cagr", "sharpe", "max_drawdown", "win_rate", "profit_factor", "trade_count",
             "final_equity")


# ---------------------------------------------------------------- CSV and JSON


def write_trades_csv(path: Path, trades: Sequence[Trade]) -> None:
    """``trades.csv``: a header and one row per trade (see ``TRADE_COLUMNS``); decimals written exactly."""
    entry_iso = _iso_many([t.entry_ts for t in trades])
    exit_iso = _iso_many([t.exit_ts for t in trades])
    returns = trade_returns_pct(trades).tolist()
    text = _csv_field  # symbols and reasons are plain words, but quote them properly if ever they are not
    lines = [",".join(TRADE_COLUMNS)]
    lines.extend(
        f"{text(t.symbol)},{text(t.side)},{entry_iso[i]},{t.entry_ts},{exit_iso[i]},{t.exit_ts},"
        f"{_dec(t.entry_price)},{_dec(t.exit_price)},{_dec(t.qty)},{_dec(t.pnl)},{_dec(t.fees)},"
        f"{returns[i]:.6f},{text(t.exit_reason)}"
        for i, t in enumerate(trades))
    lines.append("")
    write_private(path, "\n".join(lines))


@lru_cache(maxsize=1024)   # a handful of distinct symbols, sides and reasons, repeated on every row
def _csv_field(value: str) -> str:
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def write_equity_csv(path: Path, ts: npt.NDArray[np.int64], equity: npt.NDArray[np.float64],
                     drawdown: npt.NDArray[np.float64] | None = None) -> None:
    """``equity.csv``: ``timestamp`` (bar open, ms UTC), ``equity`` (quote, at the bar close, up to 8
    decimals) and ``drawdown_pct`` (<= 0, 4 decimals); the drawdown is computed when not given."""
    eq = np.asarray(equity, dtype=np.float64)
    dd = drawdown_pct(eq) if drawdown is None else np.asarray(drawdown, dtype=np.float64)
    write_columns_csv(path, EQUITY_COLUMNS, np.asarray(ts, dtype=np.int64), eq, 8, dd, 4)


def write_summary_json(path: Path, metrics: Mapping[str, Any], run_info: Mapping[str, Any],
                       blocks: Mapping[str, Any] | None = None) -> None:
    """``summary.json``: ``{"run": run_info, "metrics": metrics}`` (and ``blocks``, e.g. a portfolio's
    ``portfolio`` and ``symbols``), indented, strict JSON.

    Decimals are written as exact strings, paths and dates as text; a NaN or infinite float (which
    ``compute_metrics`` never produces, but ``run_info`` might carry) becomes ``null``.
    """
    data = {"run": dict(run_info), "metrics": dict(metrics), **(blocks or {})}
    try:
        text = orjson.dumps(data, default=_json_default,
                            option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
                            | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError as exc:
        cause = exc.__cause__ or exc
        raise TypeError(f"{path.name}: {cause}") from exc
    write_private(path, text)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return _dec(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset, tuple)):
        return sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else list(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot write a {type(obj).__name__} value ({obj!r:.80}); use numbers, text, lists, "
                    "dicts, Decimals, dates or paths")


# ---------------------------------------------------------------- terminal


def print_summary(console: Console, metrics: Mapping[str, Any], title: str) -> None:
    """The metrics as a rich table: name, value, unit, and a note where one explains the value."""
    notes = any(_note(entry) for entry in metrics.values())
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    table.add_column("Unit", style="dim")
    if notes:
        table.add_column("Note", style="dim")
    for name, entry in metrics.items():
        value = format_metric(entry)
        style = _sign_style(name, entry)
        row = [LABELS.get(name, name), f"[{style}]{value}[/]" if style else value,
               str(_get(entry, "unit", "")), *([_note(entry)] if notes else [])]
        table.add_row(*row)
    console.print(table)


def _sign_style(name: str, entry: Any) -> str:
    value = _get(entry, "value")
    if name in ("total_return", "cagr") and isinstance(value, (int, float)) and value:
        return "green" if value > 0 else "red"
    return ""


# ---------------------------------------------------------------- formatting shared by terminal and HTML


def format_metric(entry: Any) -> str:
    """A metric's value for people: thousands separators, 2 decimals for % and money, 3 for ratios."""
    value = _get(entry, "value")
    unit = str(_get(entry, "unit", ""))
    by = next((entry[k] for k in ("by_reason", "by_breaker") if isinstance(entry, Mapping) and entry.get(k)),
              None)
    text: str
    if value is None:
        text = "n/a"
    elif isinstance(value, bool):
        text = str(value)
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:,.3f}" if unit.startswith("ratio") else f"{value:,.2f}"
    else:
        text = str(value)
    if by:
        text += " (" + ", ".join(f"{k}: {v}" for k, v in dict(by).items()) + ")"
    return text


def _note(entry: Any) -> str:
    return str(_get(entry, "note", ""))


def _get(entry: Any, key: str, default: Any = None) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(key, default)
    return entry if key == "value" else default


# ---------------------------------------------------------------- HTML


def write_summary_html(path: Path, *, title: str, ts: npt.NDArray[np.int64], close: npt.NDArray[np.float64],
                       equity: npt.NDArray[np.float64], trades: Sequence[Trade], metrics: Mapping[str, Any],
                       run_info: Mapping[str, Any], prices: Sequence[PriceSeries] | None = None,
                       drawdown: npt.NDArray[np.float64] | None = None) -> None:
    """``summary.html``: a single file that opens in any browser without network (see the module doc).

    ``prices``: a portfolio's symbols, each drawn as its own price chart with its trades (``close`` is then
    not drawn). ``drawdown``: ``drawdown_pct(equity, initial cash)`` when the caller has it already."""
    ts = np.asarray(ts, dtype=np.int64)
    close = np.asarray(close, dtype=np.float64)
    equity = np.asarray(equity, dtype=np.float64)
    if not (ts.size == close.size == equity.size) or ts.size == 0:
        raise ValueError(f"{path.name}: need the same non-zero number of bar times ({ts.size}), closes "
                         f"({close.size}) and equity values ({equity.size})")
    step = int(ts[1] - ts[0]) if ts.size > 1 else 0
    t_end = int(ts[-1]) + step
    initial = _get(metrics.get("initial_cash"), "value")
    initial_f = float(initial) if isinstance(initial, (int, float)) else None

    if prices is None:
        price_svg, marker_caption = _price_chart(ts, close, trades, t_end, str(run_info.get("symbol", "price")))
    else:
        parts = []
        for symbol, p_ts, p_close, p_trades in prices:
            chart, marker_caption = _price_chart(np.asarray(p_ts, dtype=np.int64),
                                                 np.asarray(p_close, dtype=np.float64), p_trades, t_end, symbol)
            parts.append(f"<h3>{escape(symbol)}</h3>{chart}")
        price_svg = "".join(parts)
    money = str(_get(metrics.get("final_equity"), "unit", "quote"))
    equity_svg, _ = charts.line_chart(ts, equity, t_end, 240, money, "Equity", "equity", baseline=initial_f)
    dd = drawdown_pct(equity, initial_f) if drawdown is None else np.asarray(drawdown, dtype=np.float64)
    drawdown_svg, _ = charts.line_chart(ts, dd, t_end, 170, "%", "Drawdown in percent", "drawdown",
                                        fill_to=0.0)

    notes = any(_note(entry) for entry in metrics.values())
    fields = {
        "title": escape(title),
        "subtitle": escape(_subtitle(metrics, run_info)),
        "cards": "".join(_card(k, metrics[k]) for k in CARD_KEYS if k in metrics),
        "price_chart": price_svg,
        "marker_caption": escape(marker_caption),
        "equity_chart": equity_svg,
        "equity_caption": escape(f"Equity at each bar close, in {money}"
                                 + (f"; dashed line: initial cash {initial_f:,.2f}" if initial_f else "")),
        "drawdown_chart": drawdown_svg,
        "metrics_rows": "".join(_metric_row(k, v, notes) for k, v in metrics.items()),
        "note_header": "<th>Note</th>" if notes else "",
        "run_rows": "".join(_run_row(k, v) for k, v in run_info.items()),
        "trades_caption": escape(_trades_caption(len(trades))),
        "trade_rows": _trade_rows(trades),
        "footer": escape(f"Written by tradewarden {run_info.get('version', '')} at "
                         f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC. Self-contained: no script, "
                         "nothing loaded from the network. Full data: trades.csv, equity.csv, summary.json."),
    }
    write_private(path, _template().substitute(fields))


def _price_chart(ts: npt.NDArray[np.int64], close: npt.NDArray[np.float64], trades: Sequence[Trade], t_end: int,
                 unit: str) -> tuple[str, str]:
    arrays = charts.TradeArrays.of(trades)
    price_svg, frame = charts.line_chart(ts, close, t_end, 360, unit, "Close price with trade entries and exits",
                                         "price", extra_range=arrays.price_range())
    markers, marker_caption = charts.trade_markers(frame, trades, arrays)
    # Markers go under the price line when there are many, so the line stays readable.
    line_start = price_svg.index('<polyline class="price"')
    if len(trades) > 200:
        price_svg = price_svg[:line_start] + "".join(markers) + price_svg[line_start:]
    else:
        price_svg = price_svg.replace("</svg>", "".join(markers) + "</svg>")
    return price_svg, marker_caption


# a portfolio symbol's chart: its name, bar times, closes and trades
PriceSeries = tuple[str, npt.NDArray[np.int64], npt.NDArray[np.float64], Sequence[Trade]]


def write_run_reports(run_dir: Path, *, title: str, ts: npt.NDArray[np.int64], close: npt.NDArray[np.float64],
                      equity: npt.NDArray[np.float64], trades: Sequence[Trade], fees: Decimal, exposure_bars: int,
                      timeframe_ms: int, initial_cash: Decimal, quote: str, run_info: Mapping[str, Any],
                      extra: Mapping[str, Any] | None = None, blocks: Mapping[str, Any] | None = None,
                      prices: Sequence[PriceSeries] | None = None) -> dict[str, dict[str, Any]]:
    """The metrics of a run and every report file of its directory (backtests and sessions alike):
    trades.csv, equity.csv, summary.json and summary.html. Returns the metrics."""
    from tradewarden.backtest.metrics import compute_metrics

    metrics = compute_metrics(ts, equity, trades, fees, exposure_bars, timeframe_ms, initial_cash, extra=extra,
                              quote=quote)
    write_trades_csv(run_dir / "trades.csv", trades)
    # one drawdown series for both files (4 MB a year of minutes), computed after the metrics' own arrays
    # are gone
    dd = drawdown_pct(equity, float(initial_cash))
    write_equity_csv(run_dir / "equity.csv", ts, equity, dd)
    write_summary_json(run_dir / "summary.json", metrics, run_info, blocks)
    write_summary_html(run_dir / "summary.html", title=title, ts=ts, close=close, equity=equity, trades=trades,
                       metrics=metrics, run_info=run_info, prices=prices, drawdown=dd)
    return metrics


def _template() -> Template:
    page = resources.files("tradewarden.backtest").joinpath("report_template.html")
    return Template(page.read_text(encoding="utf-8"))


def _subtitle(metrics: Mapping[str, Any], run_info: Mapping[str, Any]) -> str:
    parts = [str(run_info[k]) for k in ("symbol", "timeframe") if run_info.get(k)]
    start, end = _get(metrics.get("start"), "value"), _get(metrics.get("end"), "value")
    if start and end:
        parts.append(f"{start} → {end}")
    bars = _get(metrics.get("bars"), "value")
    if bars:
        parts.append(f"{bars:,} bars")
    if run_info.get("engine_path"):
        parts.append(f"{run_info['engine_path']} path")
    return " · ".join(parts)


def _card(name: str, entry: Any) -> str:
    value = _get(entry, "value")
    css = ""
    if name in ("total_return", "cagr") and isinstance(value, (int, float)) and value:
        css = " pos" if value > 0 else " neg"
    unit = str(_get(entry, "unit", ""))
    suffix = "%" if unit == "%" else ""
    return (f'<div class="card"><div class="k">{escape(LABELS.get(name, name))}</div>'
            f'<div class="v{css}">{escape(format_metric(entry) + suffix)}</div></div>')


def _metric_row(name: str, entry: Any, notes: bool) -> str:
    note = f"<td>{escape(_note(entry))}</td>" if notes else ""
    return (f"<tr><td>{escape(LABELS.get(name, name))}</td>"
            f"<td class=\"num\">{escape(format_metric(entry))}</td>"
            f"<td>{escape(str(_get(entry, 'unit', '')))}</td>{note}</tr>")


def _run_row(name: str, value: Any) -> str:
    if isinstance(value, (Mapping, list, tuple)):
        text = orjson.dumps(value, default=_json_default, option=orjson.OPT_INDENT_2
                            | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()
        cell = f"<code>{escape(text)}</code>"
    else:
        cell = escape("" if value is None else str(value))
    return f"<tr><th>{escape(str(name))}</th><td>{cell}</td></tr>"


def _trades_caption(count: int) -> str:
    if count == 0:
        return "No trades."
    if count > 2 * TABLE_HEAD_TAIL:
        return (f"{count:,} trades; the first and last {TABLE_HEAD_TAIL} are listed, all of them are in "
                "trades.csv. Money in quote currency.")
    return f"{count:,} trades. Money in quote currency."


def _trade_rows(trades: Sequence[Trade]) -> str:
    n = len(trades)
    shown = [*range(TABLE_HEAD_TAIL), *range(n - TABLE_HEAD_TAIL, n)] if n > 2 * TABLE_HEAD_TAIL else list(range(n))
    entry = _iso_many([trades[i].entry_ts for i in shown])
    exit_ = _iso_many([trades[i].exit_ts for i in shown])
    rows = [_trade_row(i, trades[i], entry[k], exit_[k]) for k, i in enumerate(shown)]
    if n > 2 * TABLE_HEAD_TAIL:
        gap = f'<tr class="gap"><td colspan="11">… {n - 2 * TABLE_HEAD_TAIL:,} more trades …</td></tr>'
        rows.insert(TABLE_HEAD_TAIL, gap)
    return "".join(rows)


def _trade_row(i: int, t: Trade, entry_time: str, exit_time: str) -> str:
    cells = [str(i + 1), t.side, entry_time, _trim(t.entry_price), exit_time, _trim(t.exit_price),
             _trim(t.qty), _trim(t.pnl), f"{t.return_pct:.2f}", _trim(t.fees), t.exit_reason]
    numeric = {0, 3, 5, 6, 7, 8, 9}
    css = "pos" if t.pnl > 0 else "neg" if t.pnl < 0 else ""
    tds = []
    for k, text in enumerate(cells):
        classes = " ".join(c for c in ("num" if k in numeric else "", css if k in (7, 8) else "") if c)
        attr = f' class="{classes}"' if classes else ""
        tds.append(f"<td{attr}>{escape(text)}</td>")
    return "<tr>" + "".join(tds) + "</tr>"


# ---------------------------------------------------------------- small helpers


def _dec(value: Decimal) -> str:
    """Exact plain digits; ``str`` is the fast path, ``format`` only where ``str`` would use an exponent."""
    text = str(value)
    return format(value, "f") if "E" in text else text


def _trim(value: Decimal) -> str:
    """Exact, without trailing zeros (29715.01000000 reads as 29715.01); for the HTML table only."""
    return _dec(value.normalize()) if value else "0"


def _iso_many(ms: Sequence[int]) -> list[str]:
    """ISO UTC times for many ms values at once (numpy, ~20x faster than datetime per value)."""
    if not ms:
        return []
    arr = np.asarray(ms, dtype=np.int64)
    stamps = arr.astype("datetime64[ms]")
    # Milliseconds only when some time has them, so ordinary bar times read as plain seconds.
    text = (np.datetime_as_string(stamps, unit="ms") if (arr % 1000).any()
            else np.datetime_as_string(stamps, unit="s"))
    return [s + "Z" for s in text.tolist()]
