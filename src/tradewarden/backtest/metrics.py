"""Performance metrics of a backtest, each with its unit, safe to write as JSON.

Inputs: the bar open times ``ts`` (int64 ms UTC), the equity at each bar's close ``equity`` (float64, quote
currency), the round-trip trades, the fees paid, the number of bars spent in a position, the timeframe and
the initial cash. Every metric is a small dict ``{"value": ..., "unit": ...}``, sometimes with a ``note``
(why a value is ``None`` or how to read it) or ``exact`` (a money amount as an exact decimal string).

Formulas (``E_0 .. E_{n-1}`` the equity at the bar closes, ``E_{-1}`` the initial cash, ``N`` the trades):

* **total_return** = ``(E_{n-1} / E_{-1} - 1) * 100`` (%).
* **cagr** = ``((E_{n-1} / E_{-1}) ** (1 / years) - 1) * 100`` (%) with ``years`` the span from the first
  bar's open to the last bar's close divided by 365 days (crypto trades every day). A final equity at or
  below zero gives -100. Spans under a year are extrapolated (a ``note`` says so); a growth too large for
  a float gives ``None``.
* Per-bar returns ``r_i = E_i / E_{i-1} - 1`` for ``i = 0 .. n-1`` (so the first bar's fees count);
  ``r_i = 0`` where ``E_{i-1} <= 0`` (no capital, no return). ``bars_per_year = 365 days / timeframe``.
* **sharpe** = ``mean(r) / std(r, ddof=1) * sqrt(bars_per_year)``, risk-free rate 0.
* **sortino** = ``mean(r) / DD * sqrt(bars_per_year)`` with the downside deviation
  ``DD = sqrt(sum(min(r_i, 0) ** 2) / n)`` (target return 0, every bar in the denominator).
* **max_drawdown** = ``max_i (1 - E_i / P_i) * 100`` (%, reported as a positive number) with the running
  peak ``P_i = max(E_{-1}, E_0 .. E_i)``. **max_drawdown_duration**: the longest time (days) from a peak
  (the start counts as one) to the close of a bar still below it.
* **win_rate** = trades with ``pnl > 0`` / ``N`` * 100 (%); a trade with ``pnl == 0`` counts as neither
  win nor loss but still counts in ``N``.
* **profit_factor** = sum of winning ``pnl`` / |sum of losing ``pnl``| (exact Decimal sums).
* **avg_trade_return** = mean of ``Trade.return_pct`` (%).
* **exposure** = ``exposure_bars / n * 100`` (% of bars in a position).

Edge cases, chosen so that JSON never holds NaN or Infinity: a ratio whose numerator and denominator are
both zero is 0.0 (no trades, flat equity, a single bar); a ratio with a zero denominator and a non-zero
numerator (profit factor without a losing trade, Sortino without a losing bar, Sharpe of a perfectly
constant return) is ``None`` with ``note`` saying it is unbounded. A Sharpe or Sortino too large for a float
(an equity within a hair of zero, so a per-bar return near 1e300) is ``None`` with ``note`` "not finite";
computing it raises no numpy overflow warning. With no trades, win rate, profit factor and average trade
return are 0.0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from tradewarden.domain.trades import Trade

__all__ = ["Trade", "bars_per_year", "compute_metrics", "drawdown_pct", "per_bar_returns",
           "trade_returns_pct"]

DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
# Below this a standard deviation is rounding noise of an exactly constant series, not a real spread.
_ZERO_SPREAD = 1e-15


def bars_per_year(timeframe_ms: int) -> float:
    """Bars in a 365-day year for the timeframe (crypto markets never close)."""
    if timeframe_ms <= 0:
        raise ValueError(f"timeframe_ms must be positive, got {timeframe_ms}")
    return YEAR_MS / timeframe_ms


def drawdown_pct(equity: npt.NDArray[np.float64], initial: float | None = None) -> npt.NDArray[np.float64]:
    """Drawdown at each bar in percent, ``<= 0``: ``(E_i / max(initial, E_0..E_i) - 1) * 100``.

    Pass ``initial`` (the starting cash) so a loss on the very first bar shows as a drawdown; without it
    the running peak starts at ``E_0``. Where the peak is not positive the drawdown is reported as 0; a
    ratio that overflows (a negative equity against a peak within a hair of zero) is clamped to the most
    negative finite float, so files and JSON stay valid.
    """
    eq = np.asarray(equity, dtype=np.float64)
    if eq.size == 0:
        return np.zeros(0, dtype=np.float64)
    # The result is built in the running-peak array itself: one float per bar (4 MB a year of minutes)
    # fewer at the report's memory peak.
    out = np.maximum.accumulate(eq)
    if initial is not None:
        np.maximum(out, float(initial), out=out)
    positive, nonpositive = out > 0, out <= 0   # both: a NaN peak is neither (and gives -100, as ever)
    with np.errstate(over="ignore"):
        np.divide(eq, out, out=out, where=positive)
    out[~positive] = 0.0
    out -= 1.0
    out[nonpositive] = 0.0
    with np.errstate(over="ignore"):
        out *= 100.0
    return np.maximum(out, -np.finfo(np.float64).max, out=out)


def per_bar_returns(equity: npt.NDArray[np.float64], initial: float) -> npt.NDArray[np.float64]:
    """``r_i = E_i / E_{i-1} - 1`` with ``E_{-1} = initial``; 0 where the previous equity is not positive.

    A return too large for a float (an equity rising from within a hair of zero, e.g. 9e-299 to 5.5e7) is
    ``+inf``: callers that need a finite number check for it (see ``_ratio``); it is not a numpy warning.
    """
    eq = np.asarray(equity, dtype=np.float64)
    # E_{i-1} is read through a shifted view of ``eq``, not a shifted copy: one float per bar fewer.
    positive = np.empty(eq.size, dtype=bool)
    nonpositive = np.empty(eq.size, dtype=bool)   # not ~positive: a NaN is neither
    out = np.zeros_like(eq)
    if eq.size:
        positive[0], nonpositive[0] = initial > 0, initial <= 0
        np.greater(eq[:-1], 0, out=positive[1:])
        np.less_equal(eq[:-1], 0, out=nonpositive[1:])
        with np.errstate(over="ignore"):
            np.divide(eq[:1], initial, out=out[:1], where=positive[:1])
            np.divide(eq[1:], eq[:-1], out=out[1:], where=positive[1:])
    out -= 1.0
    out[nonpositive] = 0.0
    return out


def trade_returns_pct(trades: Sequence[Trade]) -> npt.NDArray[np.float64]:
    """``Trade.return_pct`` of every trade (``pnl / (entry_price * qty) * 100``, 0 for a zero cost).

    Same formula, in float arithmetic: a Decimal division per trade costs ~2-4 us, too much for 10,000
    trades in a report that must take milliseconds, and a percentage needs no 28-digit precision.
    """
    n = len(trades)
    pnl = np.fromiter((float(t.pnl) for t in trades), dtype=np.float64, count=n)
    cost = np.fromiter((float(t.entry_price) for t in trades), dtype=np.float64, count=n)
    cost *= np.fromiter((float(t.qty) for t in trades), dtype=np.float64, count=n)
    out = np.zeros(n, dtype=np.float64)
    np.divide(pnl, cost, out=out, where=cost != 0)
    out *= 100.0
    return out


def compute_metrics(ts: npt.NDArray[np.int64], equity: npt.NDArray[np.float64], trades: Sequence[Trade],
                    fees_paid: Decimal, exposure_bars: int, timeframe_ms: int, initial_cash: Decimal,
                    extra: Mapping[str, Any] | None = None, *, quote: str | None = None,
                    ) -> dict[str, dict[str, Any]]:
    """The run's metrics, keyed by name; see the module docstring for every formula and edge case.

    ``quote`` names the money unit (e.g. ``"USDT"``); by default it is taken from the first trade's symbol
    (``BTC/USDT`` gives ``USDT``), else "quote currency". ``extra`` entries (such as risk denials) are
    appended; a name that clashes with a built-in metric is an error rather than a silent overwrite.
    """
    ts_arr = np.asarray(ts, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.float64)
    _check_inputs(ts_arr, eq, exposure_bars, timeframe_ms, initial_cash)
    initial = float(initial_cash)
    n = int(eq.size)
    money = quote or _quote_of(trades)
    final = float(eq[-1])
    span_ms = int(ts_arr[-1]) + timeframe_ms - int(ts_arr[0])

    metrics: dict[str, dict[str, Any]] = {
        "total_return": {"value": _r((final / initial - 1.0) * 100.0), "unit": "%"},
        "cagr": _cagr(final / initial, span_ms),
    }
    returns = per_bar_returns(eq, initial)
    annual = math.sqrt(bars_per_year(timeframe_ms))
    metrics["sharpe"] = _sharpe(returns, annual)
    metrics["sortino"] = _sortino(returns, annual)  # last use: it overwrites them
    del returns  # one float per bar each: not held while the next ones are computed
    dd = drawdown_pct(eq, initial)
    metrics["max_drawdown"] = {"value": _r(max(0.0, -float(dd.min()))), "unit": "%"}
    del dd
    metrics["max_drawdown_duration"] = {"value": _r(_longest_underwater_ms(ts_arr, eq, initial,
                                                                           timeframe_ms) / DAY_MS),
                                        "unit": "days"}
    metrics.update(_trade_metrics(trades, money))
    metrics["exposure"] = {"value": _r(exposure_bars / n * 100.0), "unit": "% of bars in a position"}
    metrics["fees_paid"] = {"value": float(fees_paid), "unit": money, "exact": _plain(fees_paid)}
    metrics["initial_cash"] = {"value": initial, "unit": money, "exact": _plain(initial_cash)}
    metrics["final_equity"] = {"value": final, "unit": money}
    metrics["start"] = {"value": _iso(int(ts_arr[0])), "unit": "UTC, first bar open"}
    metrics["end"] = {"value": _iso(int(ts_arr[-1]) + timeframe_ms), "unit": "UTC, last bar close"}
    metrics["bars"] = {"value": n, "unit": "bars"}
    for name, entry in (extra or {}).items():
        if name in metrics:
            raise ValueError(f"extra metric {name!r} clashes with a built-in metric of the same name")
        metrics[name] = dict(entry) if isinstance(entry, Mapping) else {"value": entry, "unit": ""}
    return metrics


def _check_inputs(ts: npt.NDArray[np.int64], eq: npt.NDArray[np.float64], exposure_bars: int,
                  timeframe_ms: int, initial_cash: Decimal) -> None:
    if ts.ndim != 1 or eq.ndim != 1 or ts.size != eq.size:
        raise ValueError(f"metrics need one equity value per bar: got {ts.size} bar times and {eq.size} "
                         "equity values")
    if ts.size == 0:
        raise ValueError("metrics need at least one bar")
    if timeframe_ms <= 0:
        raise ValueError(f"timeframe_ms must be positive, got {timeframe_ms}")
    if not initial_cash > 0:
        raise ValueError(f"initial cash must be positive, got {initial_cash}")
    if not np.isfinite(eq).all():
        bad = int(np.flatnonzero(~np.isfinite(eq))[0])
        raise ValueError(f"equity at bar {bad} ({_iso(int(ts[bad]))}) is not a finite number: {eq[bad]}")
    if not 0 <= exposure_bars <= eq.size:
        raise ValueError(f"exposure_bars={exposure_bars} is outside 0..{eq.size} (the number of bars)")


_NOT_FINITE = {"value": None, "note": "not finite: the equity came too close to zero"}


def _ratio(num: float, den: float, what: str) -> dict[str, Any]:
    """num/den as a JSON-safe value: 0/0 is 0.0, x/0 is None with a note, and so is a quotient too large
    for a float.

    Only an equity within a hair of zero makes an input or the quotient non-finite: returns of 1e300
    (``[9e-299, 5.5e7, 9e-299]`` gives a finite mean but a Sortino of 1.8e308, past the largest float).
    """
    if not (math.isfinite(num) and math.isfinite(den)):
        return dict(_NOT_FINITE)
    if den == 0:
        if num == 0:
            return {"value": 0.0}
        return {"value": None, "note": f"unbounded: {what}"}
    quotient = num / den          # Python floats: an overflow gives inf, never a warning
    if not math.isfinite(quotient):
        return dict(_NOT_FINITE)
    return {"value": _r(quotient)}


def _sharpe(returns: npt.NDArray[np.float64], annual: float) -> dict[str, Any]:
    unit = "ratio (annualised)"
    if returns.size < 2:
        return {"value": 0.0, "unit": unit, "note": "needs at least 2 bars"}
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(returns.mean())
        std = float(returns.std(ddof=1))
    if std < _ZERO_SPREAD:
        std = 0.0
    out = _ratio(mean * annual, std, "the per-bar return never varies")
    return {**out, "unit": unit}


def _sortino(returns: npt.NDArray[np.float64], annual: float) -> dict[str, Any]:
    """Sortino of ``returns``, which it overwrites with their downside (no copy of a per-bar series)."""
    unit = "ratio (annualised)"
    if returns.size == 0:
        return {"value": 0.0, "unit": unit}
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(returns.mean())
    downside = np.minimum(returns, 0.0, out=returns)
    with np.errstate(over="ignore"):
        dd = math.sqrt(float(np.dot(downside, downside)) / returns.size)
    if dd < _ZERO_SPREAD:
        dd = 0.0
    out = _ratio(mean * annual, dd, "no bar lost money")
    return {**out, "unit": unit}


def _cagr(growth: float, span_ms: int) -> dict[str, Any]:
    years = span_ms / YEAR_MS
    entry: dict[str, Any] = {"unit": "%"}
    if growth <= 0:
        entry["value"] = -100.0
    else:
        exponent = math.log(growth) / years
        if exponent > 700:   # exp() would overflow a float
            entry["value"] = None
            entry["note"] = "too large to express (short span with a large gain)"
            return entry
        entry["value"] = _r(math.expm1(exponent) * 100.0)
    if years < 1:
        entry["note"] = f"extrapolated from {span_ms / DAY_MS:.4g} days"
    return entry


def _longest_underwater_ms(ts: npt.NDArray[np.int64], eq: npt.NDArray[np.float64], initial: float,
                           timeframe_ms: int) -> int:
    """Longest time from a peak (the start counts, at the first bar's open) to a bar close still below it."""
    peak = np.maximum.accumulate(eq)
    np.maximum(peak, initial, out=peak)
    at_peak = eq >= peak
    del peak
    # Close time of the latest peak at or before each bar (before any bar peaks, the start: the first open),
    # less one bar, so that the bar opens need no array of closes: close - peak close = open - this.
    # In place throughout: one int per bar at a time, a year of minutes is 4 MB each.
    peak_time = np.where(at_peak, ts, np.int64(ts[0]) - timeframe_ms)
    np.maximum.accumulate(peak_time, out=peak_time)
    np.subtract(ts, peak_time, out=peak_time)
    return int(peak_time.max())


def _trade_metrics(trades: Sequence[Trade], money: str) -> dict[str, dict[str, Any]]:
    wins = [t.pnl for t in trades if t.pnl > 0]
    losses = [t.pnl for t in trades if t.pnl < 0]
    gross_profit = sum(wins, Decimal(0))
    gross_loss = -sum(losses, Decimal(0))
    count = len(trades)
    pf = _ratio(float(gross_profit), float(gross_loss), "no losing trade")
    avg = float(trade_returns_pct(trades).mean()) if count else 0.0
    return {
        "win_rate": {"value": _r(len(wins) / count * 100.0) if count else 0.0, "unit": "%"},
        "profit_factor": {**pf, "unit": "ratio"},
        "avg_trade_return": {"value": _r(avg), "unit": "%"},
        "trade_count": {"value": count, "unit": "trades"},
        "gross_profit": {"value": float(gross_profit), "unit": money, "exact": _plain(gross_profit)},
        "gross_loss": {"value": float(gross_loss), "unit": money, "exact": _plain(gross_loss)},
    }


def _quote_of(trades: Sequence[Trade]) -> str:
    if trades:
        _, _, quote = trades[0].symbol.partition("/")
        if quote:
            return quote
    return "quote currency"


def _plain(amount: Decimal) -> str:
    """A Decimal as plain digits (never ``1E-7``), exact."""
    return format(amount, "f")


def _r(x: float) -> float:
    # Six decimals is far below any meaningful difference in % or ratio terms and keeps the JSON readable.
    return round(float(x), 6) + 0.0   # + 0.0 turns -0.0 into 0.0


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
