"""Report files: written, read back, compared; the HTML is self-contained, escaped and marks the trades."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from rich.console import Console

from tradewarden.backtest import report_charts as charts
from tradewarden.backtest.metrics import Trade, compute_metrics
from tradewarden.backtest.reports import (
    TRADE_COLUMNS,
    drawdown_pct,
    format_metric,
    print_summary,
    write_equity_csv,
    write_summary_html,
    write_summary_json,
    write_trades_csv,
)

MINUTE = 60_000
T0 = 1_609_459_200_000  # 2021-01-01T00:00:00Z


def make_trade(i: int, pnl: str = "12.5", side: str = "long", reason: str = "signal",
               symbol: str = "BTC/USDT", entry: str = "29000.12", qty: str = "0.00100000") -> Trade:
    return Trade(symbol, side, T0 + i * 10 * MINUTE, T0 + (i * 10 + 5) * MINUTE, Decimal(entry),
                 Decimal(entry) + Decimal(pnl), Decimal(qty), Decimal(pnl), Decimal("0.058"), reason)


def iso_to_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


# ------------------------------------------------------------------ trades.csv


def test_trades_csv_round_trips_exact_decimals_and_times(tmp_path: Path) -> None:
    trades = [
        make_trade(0),
        Trade("BTC/USDT", "short", T0 + 1234, T0 + 60_000, Decimal("1E+2"), Decimal("99.5"), Decimal("0.5"),
              Decimal("1E-8"), Decimal("0.00000001"), "stop_loss"),
        make_trade(3, pnl="-7.25", reason="take_profit", symbol='ODD,"NAME"/USDT'),
    ]
    path = tmp_path / "trades.csv"
    write_trades_csv(path, trades)
    text = path.read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == TRADE_COLUMNS
    assert len(rows) == len(trades)
    for row, t in zip(rows, trades, strict=True):
        assert row["symbol"] == t.symbol
        assert row["side"] == t.side
        assert int(row["entry_ts"]) == t.entry_ts and int(row["exit_ts"]) == t.exit_ts
        assert iso_to_ms(row["entry_time"]) == t.entry_ts
        assert iso_to_ms(row["exit_time"]) == t.exit_ts
        for name in ("entry_price", "exit_price", "qty", "pnl", "fees"):
            assert re.fullmatch(r"-?\d+(\.\d+)?", row[name]), row[name]   # plain digits, never 1E-8
            assert Decimal(row[name]) == getattr(t, name), name
        assert float(row["return_pct"]) == pytest.approx(t.return_pct, abs=1e-6)
        assert row["exit_reason"] == t.exit_reason
    assert rows[1]["entry_time"] == "2021-01-01T00:00:01.234Z"   # ms kept when there are any
    assert rows[1]["fees"] == "0.00000001"


def test_trades_csv_with_no_trades_is_just_the_header(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    write_trades_csv(path, [])
    assert path.read_text() == ",".join(TRADE_COLUMNS) + "\n"


# ------------------------------------------------------------------ equity.csv


def read_equity(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def test_equity_csv_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 50_000   # several formatting chunks
    ts = T0 + np.arange(n, dtype=np.int64) * MINUTE
    equity = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    path = tmp_path / "equity.csv"
    write_equity_csv(path, ts, equity)
    header, rows = read_equity(path)
    assert header == ["timestamp", "equity", "drawdown_pct"]
    assert len(rows) == n
    assert [int(r[0]) for r in rows] == ts.tolist()
    assert np.allclose([float(r[1]) for r in rows], equity, rtol=0, atol=0.51e-8)
    assert np.allclose([float(r[2]) for r in rows], drawdown_pct(equity), rtol=0, atol=0.51e-4)


def test_equity_csv_number_format(tmp_path: Path) -> None:
    ts = T0 + np.arange(7, dtype=np.int64) * MINUTE
    equity = np.array([100.0, 100.5, 0.1 + 0.2, 1e-9, -2.25, 0.0, 123456.00000001])
    dd = np.array([0.0, -0.00001, -12.34567, -100.0, 0.0, -0.5, -0.00006])
    path = tmp_path / "equity.csv"
    write_equity_csv(path, ts, equity, dd)
    _, rows = read_equity(path)
    assert [r[1] for r in rows] == ["100", "100.5", "0.3", "0", "-2.25", "0", "123456.00000001"]
    assert [r[2] for r in rows] == ["0", "0", "-12.3457", "-100", "0", "-0.5", "-0.0001"]


def test_equity_csv_writes_absurd_magnitudes_too(tmp_path: Path) -> None:
    path = tmp_path / "equity.csv"
    write_equity_csv(path, np.array([T0, T0 + MINUTE]), np.array([1e-70, -1.0]))
    _, rows = read_equity(path)
    assert [r[1] for r in rows] == ["0", "-1"]
    assert float(rows[1][2]) == pytest.approx(-1e72, rel=1e-12)   # -1 against a peak of 1e-70


@pytest.mark.parametrize(("value", "text"), [
    (123_456_789_012.345678, "123456789012.346"),   # 15 significant digits, no binary noise
    (9.5e14, "950000000000000"),
    (12_345.123456789, "12345.12345679"),          # 8 decimals at most
])
def test_equity_csv_large_values_keep_float_precision(tmp_path: Path, value: float, text: str) -> None:
    path = tmp_path / "equity.csv"
    write_equity_csv(path, np.array([T0]), np.array([value]))
    assert read_equity(path)[1][0][1] == text


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 40), elements=st.floats(-1e9, 1e9, allow_nan=False)))
def test_equity_csv_matches_python_formatting(equity: np.ndarray) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.csv"
        write_equity_csv(path, T0 + np.arange(equity.size, dtype=np.int64), equity)
        _, rows = read_equity(path)
    # Decimals: 8, fewer for big values so that at most 15 significant digits are printed.
    whole_digits = len(str(int(np.abs(equity).max())))
    tolerance = 0.51 * 10.0 ** -min(8, 15 - whole_digits)
    for text, x in zip((r[1] for r in rows), equity.tolist(), strict=True):
        assert re.fullmatch(r"-?\d+(\.\d*[1-9])?", text), text
        assert text != "-0"
        assert float(text) == pytest.approx(x, rel=0, abs=tolerance + abs(x) * 1e-15)


@pytest.mark.parametrize(("equity", "message"), [
    (np.array([1.0, np.nan]), r"equity at row 1 \(ts 1609459260000\) is nan"),
    (np.array([1.0, np.inf]), "not a finite number"),
    (np.array([1.0]), "columns differ in length"),
])
def test_equity_csv_rejects_bad_values(tmp_path: Path, equity: np.ndarray, message: str) -> None:
    ts = T0 + np.arange(2, dtype=np.int64) * MINUTE
    with pytest.raises(ValueError, match=message):
        write_equity_csv(tmp_path / "equity.csv", ts, equity, np.zeros(2))


# ------------------------------------------------------------------ summary.json


def sample_metrics(trades: list[Trade], n: int = 300) -> dict[str, dict[str, object]]:
    ts = T0 + np.arange(n, dtype=np.int64) * MINUTE
    equity = 1000 + np.sin(np.arange(n) / 20) * 50
    return compute_metrics(ts, equity, trades, Decimal("0.116"), n // 3, MINUTE, Decimal(1000),
                           extra={"risk_denials": {"value": 2, "unit": "orders",
                                                   "by_reason": {"max_position": 2}}})


def strict_json(text: str) -> object:
    def refuse(name: str) -> object:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_summary_json_is_strict_and_complete(tmp_path: Path) -> None:
    metrics = sample_metrics([make_trade(0), make_trade(1, pnl="3")])   # no losing trade: profit factor None
    run_info = {"strategy": {"name": "donchian", "params": {"window": 20}}, "data": Path("/data/x.csv"),
                "start": date(2021, 1, 1), "cash": Decimal("1000.00"), "odd": float("nan"),
                "tags": ("a", "b"), "n": np.int64(5)}
    path = tmp_path / "summary.json"
    write_summary_json(path, metrics, run_info)
    data = strict_json(path.read_text())
    assert isinstance(data, dict)
    assert set(data) == {"run", "metrics"}
    assert data["run"] == {"strategy": {"name": "donchian", "params": {"window": 20}}, "data": "/data/x.csv",
                           "start": "2021-01-01", "cash": "1000.00", "odd": None, "tags": ["a", "b"], "n": 5}
    assert data["metrics"]["profit_factor"]["value"] is None
    assert data["metrics"]["fees_paid"] == {"value": 0.116, "unit": "USDT", "exact": "0.116"}
    assert data["metrics"]["risk_denials"]["by_reason"] == {"max_position": 2}
    assert list(data["metrics"]) == list(metrics)


def test_summary_json_names_what_it_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"s\.json: cannot write a object value"):
        write_summary_json(tmp_path / "s.json", {}, {"thing": object()})


# ------------------------------------------------------------------ summary.html


class ResourceFinder(HTMLParser):
    """Collects every tag and every attribute that could make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.fetching: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, val in attrs:
            fetches = name in ("src", "href", "xlink:href", "srcset", "data", "poster", "action",
                               "background")
            if fetches and not (val or "").startswith("#"):
                self.fetching.append((tag, name, val or ""))


def html_report(tmp_path: Path, trades: list[Trade], n: int = 300, title: str = "donchian on BTC/USDT",
                run_info: dict[str, object] | None = None) -> str:
    ts = T0 + np.arange(n, dtype=np.int64) * MINUTE
    close = 29_000 + np.cumsum(np.sin(np.arange(n) / 7))
    equity = 1000 + np.sin(np.arange(n) / 20) * 50
    path = tmp_path / "summary.html"
    write_summary_html(path, title=title, ts=ts, close=close, equity=equity, trades=trades,
                       metrics=sample_metrics(trades, n),
                       run_info=run_info if run_info is not None
                       else {"symbol": "BTC/USDT", "timeframe": "1m", "version": "0.1.0"})
    return path.read_text(encoding="utf-8")


def test_html_is_self_contained(tmp_path: Path) -> None:
    page = html_report(tmp_path, [make_trade(i) for i in range(5)])
    finder = ResourceFinder()
    finder.feed(page)
    assert finder.fetching == []
    assert not {"script", "link", "img", "iframe", "object", "embed", "video", "audio"} & set(finder.tags)
    assert "url(" not in page and "@import" not in page
    # Inline SVG in HTML needs no xmlns, so not even a namespace URL appears.
    assert "http://" not in page and "https://" not in page
    assert page.count("<svg ") == 3


def test_html_marks_every_trade_when_few(tmp_path: Path) -> None:
    trades = [make_trade(0), make_trade(4, pnl="-3", side="short", reason="stop_loss"), make_trade(9)]
    page = html_report(tmp_path, trades)
    assert page.count('class="m-entry long"') == 2
    assert page.count('class="m-entry short"') == 1
    assert page.count('class="m-exit win"') == 2
    assert page.count('class="m-exit loss"') == 1
    assert "▲" in page and "▼" in page
    assert "all 3 trades marked" in page
    assert "#2 exit (stop_loss) 2021-01-01 00:45 @ 28997.12, pnl -3" in page
    assert page.count("<tr><td class=\"num\">") == 3   # one table row per trade


def test_html_escapes_every_string(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script> & co'
    trade = make_trade(0, reason="<b>signal</b>", side="long")
    page = html_report(tmp_path, [trade], title=evil,
                       run_info={"symbol": "<i>BTC</i>/USDT", "strategy": {"name": evil},
                                 "note": "see https://example.com/<x>"})
    assert "<script" not in page and "<b>" not in page and "<i>" not in page and "<x>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page
    assert "&lt;b&gt;signal&lt;/b&gt;" in page
    finder = ResourceFinder()
    finder.feed(page)
    assert finder.fetching == []   # the escaped URL in the text is text, not a resource


def test_html_svgs_are_well_formed(tmp_path: Path) -> None:
    page = html_report(tmp_path, [make_trade(i, reason="<&>") for i in range(20)])
    svgs = re.findall(r"<svg .*?</svg>", page, flags=re.S)
    assert len(svgs) == 3
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag == "svg"


def test_html_with_many_trades_caps_markers_and_lists_head_and_tail(tmp_path: Path) -> None:
    n = 60_000
    trades = [make_trade(i, pnl=str((i % 7) - 3)) for i in range(n // 10)]
    page = html_report(tmp_path, trades, n=n)
    markers = page.count('<path class="m-')
    assert 0 < markers <= charts.MAX_MARKERS
    assert f"of {2 * len(trades)} markers drawn" in page
    assert page.count("<tr><td class=\"num\">") == 2 * 100
    assert f"… {len(trades) - 200:,} more trades …" in page
    for points in re.findall(r'<polyline class="\w+" points="([^"]*)"', page):
        assert len(points.split()) <= 2 * (charts.WIDTH - charts.MARGIN_LEFT - charts.MARGIN_RIGHT) + 2


def test_html_without_trades(tmp_path: Path) -> None:
    page = html_report(tmp_path, [])
    assert "No trades." in page
    assert '<path class="m-' not in page


def test_html_rejects_mismatched_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same non-zero number"):
        write_summary_html(tmp_path / "s.html", title="t", ts=np.arange(3, dtype=np.int64), close=np.ones(2),
                           equity=np.ones(3), trades=[], metrics={}, run_info={})


# ------------------------------------------------------------------ downsampling and axes


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.integers(1, 3000), elements=st.floats(-1e6, 1e6, allow_nan=False)),
       st.integers(1, 200))
def test_minmax_downsampling_keeps_the_envelope(values: np.ndarray, buckets: int) -> None:
    idx = charts.minmax_indices(values.size, values, buckets)
    assert idx[0] == 0 and idx[-1] == values.size - 1
    assert np.all(np.diff(idx) > 0)
    assert idx.size <= max(2 * buckets + 2, values.size)
    assert values[idx].min() == values.min() and values[idx].max() == values.max()
    if values.size > 2 * buckets:
        size = -(-values.size // buckets)
        for start in range(0, values.size, size):
            chunk = idx[(idx >= start) & (idx < start + size)]
            assert values[chunk].min() == values[start:start + size].min()
            assert values[chunk].max() == values[start:start + size].max()


def test_time_ticks_fall_inside_the_range_and_read_well() -> None:
    day = 86_400_000
    year = charts.time_ticks(T0, T0 + 365 * day)
    assert all(T0 <= t <= T0 + 365 * day for t, _ in year)
    assert [label for _, label in year][:2] == ["2021-02", "2021-03"] or year[0][1] == "2021-03"
    hours = charts.time_ticks(T0, T0 + 6 * 3_600_000)
    assert hours[0] == (T0, "01-01 00:00")
    assert 3 <= len(hours) <= 8
    assert charts.nice_ticks(0.0, 10.0) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


# ------------------------------------------------------------------ terminal


def test_print_summary_shows_values_units_and_notes() -> None:
    metrics = sample_metrics([make_trade(0)])
    console = Console(record=True, width=160, file=io.StringIO())
    print_summary(console, metrics, "donchian BTC/USDT 1m")
    out = console.export_text()
    for label in ("Total return", "CAGR", "Sharpe", "Sortino", "Max drawdown", "Win rate", "Profit factor",
                  "Exposure", "Trades", "Fees paid", "Risk denials"):
        assert label in out, label
    assert "n/a" in out and "unbounded: no losing trade" in out
    assert "2 (max_position: 2)" in out
    assert "0.12" in out and "USDT" in out


def test_format_metric() -> None:
    assert format_metric({"value": 12345.678, "unit": "%"}) == "12,345.68"
    assert format_metric({"value": 1.23456, "unit": "ratio"}) == "1.235"
    assert format_metric({"value": 10000, "unit": "bars"}) == "10,000"
    assert format_metric({"value": None, "unit": "ratio"}) == "n/a"
    assert format_metric({"value": "2021-01-01T00:00:00Z", "unit": "UTC"}) == "2021-01-01T00:00:00Z"
    assert format_metric(7) == "7"


def test_iso_times_in_html_are_utc(tmp_path: Path) -> None:
    page = html_report(tmp_path, [make_trade(1)])
    expected = datetime.fromtimestamp((T0 + 10 * MINUTE) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert expected in page


@pytest.mark.parametrize(("equity", "close", "initial"), [
    (np.array([1000.0]), np.array([29_000.0]), "1000"),                  # a single bar
    (np.array([1000.0, 1e-300, -5.0, -5.0]), np.ones(4), "1000"),        # ruin, flat price
    (np.array([1e-300, -1e10, -1e10]), np.ones(3), "1E-300"),            # drawdown overflows a float
])
def test_html_survives_degenerate_series(tmp_path: Path, equity: np.ndarray, close: np.ndarray,
                                         initial: str) -> None:
    ts = T0 + np.arange(equity.size, dtype=np.int64) * MINUTE
    metrics = compute_metrics(ts, equity, [], Decimal(0), 0, MINUTE, Decimal(initial))
    path = tmp_path / "summary.html"
    write_summary_html(path, title="t", ts=ts, close=close, equity=equity, trades=[], metrics=metrics,
                       run_info={})
    svgs = re.findall(r"<svg .*?</svg>", path.read_text(), flags=re.S)
    assert len(svgs) == 3
    for svg in svgs:
        ET.fromstring(svg)
        assert not re.search(r"\b(nan|inf)\b", svg, flags=re.I)   # every coordinate is a number
