"""The backtest as a user runs it: load candles, run the strategy, write the run directory.

The run directory holds ``trades.csv``, ``equity.csv``, ``events.jsonl``, ``summary.json`` and
``summary.html`` (self-contained). Candles are validated on load; gaps are reported (in the terminal and as
``DataGap`` events), never filled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tradewarden import __version__
from tradewarden.backtest.core import Simulation, simulate_batch, simulate_per_candle
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.data.files import CandleFileError, gaps_of
from tradewarden.data.sample import sample_path
from tradewarden.data.sources import load_market
from tradewarden.data.validation import Gap
from tradewarden.domain.candles import CandleSeries, timeframe_ms
from tradewarden.domain.instrument import Instrument
from tradewarden.private_files import private_dir
from tradewarden.strategies.base import Strategy


@dataclass
class BacktestRequest:
    strategy: Strategy
    settings: BacktestSettings
    instrument: Instrument
    data: Path | None = None          # file or directory; None = the bundled sample
    symbol: str = "BTC/USDT"
    timeframe: str = "1h"
    start: date | None = None
    end: date | None = None           # exclusive
    out_dir: Path | None = None       # the run directory; None = runs/<time>-<strategy>
    runs_root: Path = Path("runs")
    config_hash: str | None = None
    risk_config: Any = None           # a tradewarden.risk.RiskConfig: run the risk gate (per-candle path)
    per_candle: bool = False          # force the per-candle path (the risk gate needs it)
    extra_info: dict[str, Any] = field(default_factory=dict)
    # several symbols on one account (backtest --symbols): each instrument with its own strategy instance
    portfolio: list[tuple[Instrument, Strategy]] = field(default_factory=list)


@dataclass
class BacktestOutcome:
    run_dir: Path
    simulation: Simulation
    metrics: dict[str, dict[str, Any]]
    gaps: list[Gap]
    seconds: float


def _ms(d: date | None) -> int | None:
    if d is None:
        return None
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


def load_series(req: BacktestRequest) -> CandleSeries:
    """The candles the request asks for: loaded, validated, cut to the dates, resampled if needed."""
    source = req.data or sample_path()
    # the symbol is checked against the data (never the bundled BTC/USDT prices labelled as another
    # market), and a directory is read at the requested timeframe or the nearest finer one
    series = load_market(req.data, req.symbol, req.timeframe)
    if req.start or req.end:
        series = series.between(_ms(req.start), _ms(req.end))
    if len(series) == 0:
        raise CandleFileError(source, None, f"no candles between {req.start or 'the start'} and {req.end or 'the end'}")
    return series


def run_dir_for(req: BacktestRequest) -> Path:
    if req.out_dir is not None:
        return req.out_dir
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return req.runs_root / f"{stamp}-{req.strategy.name}-{req.symbol.replace('/', '')}-{req.timeframe}"


def run_backtest(req: BacktestRequest, progress: Callable[[int, int], None] | None = None) -> BacktestOutcome:
    from tradewarden.backtest.reports import write_run_reports
    from tradewarden.domain.events import EventType
    from tradewarden.observability import EventJournal

    started = time.perf_counter()
    series = load_series(req)
    gaps = gaps_of(series)
    run_dir = run_dir_for(req)
    private_dir(run_dir)
    path = "per_candle" if (req.per_candle or req.risk_config is not None) else "batch"
    info: dict[str, Any] = {
        "mode": "backtest",
        "version": __version__,
        "strategy": req.strategy.describe(),
        "symbol": req.symbol,
        "timeframe": req.timeframe,
        "data": str(req.data) if req.data else f"bundled sample ({sample_path().name})",
        "first_candle": _iso(int(series.ts[0])),
        "last_candle": _iso(int(series.ts[-1])),
        "bars": len(series),
        "engine_path": path,
        "settings": req.settings.describe(),
        "config_hash": req.config_hash,
        **req.extra_info,
    }
    with EventJournal(run_dir / "events.jsonl") as journal:
        journal.emit(EventType.RUN_STARTED, int(series.ts[0]), **info)
        for gap in gaps:
            journal.emit(EventType.DATA_GAP, gap.after_ts, symbol=req.symbol, after=_iso(gap.after_ts),
                         before=_iso(gap.before_ts), missing_candles=gap.count)
        risk = None
        if path == "batch":
            sim = simulate_batch(series, req.strategy, req.settings, req.instrument, journal)
        else:
            if req.risk_config is not None:
                from tradewarden.risk import AuditTrail, RiskManager

                risk = RiskManager(req.risk_config, journal, AuditTrail(run_dir / "audit.jsonl"),
                                   instruments={req.instrument.symbol: req.instrument})
            tick: Callable[[int], None] | None = None
            if progress is not None:
                total = len(series)

                def tick(i: int) -> None:
                    progress(i, total)

            sim = simulate_per_candle(series, req.strategy, req.settings, req.instrument, journal,
                                      check=risk, risk=risk, progress=tick)
        # The reports read the times and closes only: the other columns (17 MB a year of minutes) are let
        # go before the reports' per-bar arrays add to the memory peak.
        ts, close = series.ts, series.close
        del series
        equity = sim.equity
        info["seconds"] = round(time.perf_counter() - started, 3)
        metrics = write_run_reports(
            run_dir, title=f"{req.strategy.name} on {req.symbol} {req.timeframe}", ts=ts, close=close,
            equity=equity, trades=sim.all_trades, fees=sim.fees, exposure_bars=sim.exposed_bars,
            timeframe_ms=timeframe_ms(req.timeframe), initial_cash=req.settings.initial_cash,
            quote=req.instrument.quote, run_info=info, extra=_risk_extra(risk))
        elapsed = time.perf_counter() - started
        journal.emit(EventType.RUN_FINISHED, int(ts[-1]), trades=len(sim.trades),
                     open_position=sim.open_trade is not None,
                     final_equity=metrics.get("final_equity", {}).get("value"), seconds=round(elapsed, 3),
                     run_dir=str(run_dir))
    return BacktestOutcome(run_dir, sim, metrics, gaps, time.perf_counter() - started)


def _risk_extra(risk: Any) -> dict[str, Any] | None:
    """What the risk gate did, for the summary: denials by reason code and breaker trips."""
    if risk is None:
        return None
    c = risk.counters
    return {
        "risk_approved": {"value": c.approved, "unit": "orders"},
        "risk_denials": {"value": c.denied, "unit": "orders", "by_reason": dict(sorted(c.denials.items()))},
        "breaker_trips": {"value": sum(c.breaker_trips.values()), "unit": "trips",
                          "by_breaker": dict(sorted(c.breaker_trips.items()))},
    }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
