"""The reporter: the session's report files (summary.json, summary.html, trades.csv, equity.csv) and
``RunFinished`` when it ends, and the daily summary while it runs.

A session's return, drawdown and Sharpe are measured from its own starting equity, the first equity it
recorded (the whole session's, read back from the store after a resume), never from ``backtest.initial_cash``:
a live account holds what it holds, and a paper account resumed or funded otherwise starts elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

import numpy as np

from tradewarden.domain.candles import timeframe_ms
from tradewarden.domain.events import EventType
from tradewarden.domain.portfolio import Portfolio
from tradewarden.domain.ports import EventSink
from tradewarden.node.portfolio_state import PortfolioSeries
from tradewarden.node.runner import StrategyRunner
from tradewarden.runtime.series import SeriesSource, SessionResults


class Reporter:
    def __init__(self, run_dir: Path, mode: str, config_hash: str, timeframe: str,
                 events: EventSink, clock_ms: Callable[[], int]) -> None:
        self.run_dir = run_dir
        self.mode = mode
        self.config_hash = config_hash
        self.timeframe = timeframe
        self.events = events
        self.clock_ms = clock_ms

    def daily_summary(self, runner: StrategyRunner, candles: int) -> None:
        engine = runner.engine
        inst = engine.instrument
        last = engine.equity_atoms[-1] if engine.equity_atoms else engine.cash_atoms
        self.events.emit(EventType.DAILY_SUMMARY, self.clock_ms(), candles=candles, trades=len(engine.trades.trades),
                         position=inst.from_steps(engine.pos_steps), equity=inst.from_atoms(last),
                         fees=inst.from_atoms(engine.fees_atoms))

    def write(self, runner: StrategyRunner, candles: int, reason: str,
              results: SessionResults | None = None) -> dict[str, dict[str, object]]:
        """The report files of the run directory; returns the metrics (none before the first candle).

        ``results``: the whole session (:meth:`~tradewarden.node.state.StateKeeper.results`); without them,
        what the engine holds, which must then be all of it."""
        from tradewarden.backtest.reports import write_run_reports, write_trades_csv

        engine = runner.engine
        instrument = engine.instrument
        results = results if results is not None else _held(engine)
        trades = results.trades
        if not results.ts:
            write_trades_csv(self.run_dir / "trades.csv", trades)
            return {}
        info = {"mode": self.mode, "config_hash": self.config_hash, "candles": candles, "reason": reason,
                "strategy": engine.strategy.describe(), "symbol": instrument.symbol, "timeframe": self.timeframe}
        return write_run_reports(
            self.run_dir, title=f"{self.mode} session: {engine.strategy.name} on {instrument.symbol}",
            ts=np.asarray(results.ts, dtype=np.int64), close=np.asarray(results.close, dtype=np.float64),
            equity=np.asarray(results.equity, dtype=np.float64) * float(instrument.atom), trades=trades,
            fees=instrument.from_atoms(engine.fees_atoms), exposure_bars=engine.exposed_bars,
            timeframe_ms=timeframe_ms(self.timeframe), initial_cash=instrument.from_atoms(results.equity[0]),
            quote=instrument.quote, run_info=info)

    def finish(self, runner: StrategyRunner, candles: int, reason: str,
               loop_stall_max_ms: float, results: SessionResults | None = None) -> dict[str, object]:
        """Write the reports, then ``RunFinished``; returns the metrics with the loop's longest stall."""
        engine = runner.engine
        metrics: dict[str, object] = dict(self.write(runner, candles, reason, results))
        final = metrics.get("final_equity")
        self.events.emit(EventType.RUN_FINISHED, engine.last_ts or self.clock_ms(), mode=self.mode, reason=reason,
                         candles=candles, trades=len(engine.trades.trades),
                         final_equity=final.get("value") if isinstance(final, dict) else None,
                         run_dir=str(self.run_dir), loop_stall_max_ms=round(loop_stall_max_ms, 1))
        metrics["loop_stall_max_ms"] = round(loop_stall_max_ms, 1)
        return metrics


class PortfolioReporter:
    """The reports of a session of several symbols, as a portfolio backtest writes them: the portfolio's
    equity per time step and every trade, plus a ``portfolio`` block and one block per symbol."""

    def __init__(self, base: Reporter) -> None:
        self.base = base

    def daily_summary(self, runners: Mapping[str, StrategyRunner], portfolio: Portfolio, candles: int) -> None:
        b = self.base
        b.events.emit(EventType.DAILY_SUMMARY, b.clock_ms(), candles=candles,
                      trades=sum(len(r.engine.trades.trades) for r in runners.values()),
                      positions={s: r.engine.instrument.from_steps(r.engine.pos_steps) for s, r in runners.items()},
                      equity=portfolio.equity,
                      fees=sum((r.engine.instrument.from_atoms(r.engine.fees_atoms) for r in runners.values()),
                               Decimal(0)))

    def write(self, runners: Mapping[str, StrategyRunner], portfolio: Portfolio, series: PortfolioSeries,
              candles: int, reason: str,
              results: Mapping[str, SessionResults] | None = None) -> dict[str, dict[str, object]]:
        """``results``: the whole session per symbol and ``portfolio``
        (:meth:`~tradewarden.node.portfolio_state.PortfolioStateKeeper.results`); without them, what the
        engines and ``series`` hold, which must then be all of it."""
        from tradewarden.backtest.reports import write_run_reports, write_trades_csv

        b = self.base
        if results is None:
            results = {s: _held(r.engine) for s, r in runners.items()} | {"portfolio": _held(series)}
        trades = sorted((t for s in runners for t in results[s].trades), key=lambda t: (t.exit_ts, t.symbol))
        whole = results["portfolio"]
        if not whole.ts:
            write_trades_csv(b.run_dir / "trades.csv", trades)
            return {}
        symbols = list(runners)
        strategies = {s: r.engine.strategy.describe() for s, r in runners.items()}
        info = {"mode": b.mode, "config_hash": b.config_hash, "candles": candles, "reason": reason,
                "strategy": next(iter(strategies.values())), "strategy_params": strategies,
                "symbol": ",".join(symbols), "symbols": symbols, "timeframe": b.timeframe}
        per_symbol: dict[str, object] = {}
        prices = []
        for s, r in runners.items():
            e = r.engine
            inst = e.instrument
            mine = results[s]
            bars = len(mine.ts)
            last_close = mine.close[-1] if mine.close else 0.0
            open_trade = e.trades.open_trade(mine.ts[-1], round(last_close / float(inst.tick_size))) \
                if bars else None
            per_symbol[s] = {"trades": len(mine.trades), "pnl": str(sum((t.pnl for t in mine.trades), Decimal(0))),
                             "open_pnl": str(open_trade.pnl) if open_trade is not None else "0",
                             "fees": str(inst.from_atoms(e.fees_atoms)),
                             "exposure_pct": round(100.0 * e.exposed_bars / bars, 4) if bars else 0.0,
                             "bars": bars, "position": str(inst.from_steps(e.pos_steps))}
            prices.append((s, np.asarray(mine.ts, dtype=np.int64), np.asarray(mine.close, dtype=np.float64),
                           mine.trades + ([open_trade] if open_trade is not None else [])))
        equity = np.asarray(whole.close, dtype=np.float64)
        start = whole.equity[0] * portfolio.unit  # the portfolio's series counts its equity in ledger units
        block = {"symbols": symbols, "quote": portfolio.quote, "cash_unit": str(portfolio.unit),
                 "initial_cash": str(start), "final_equity": str(portfolio.equity),
                 "steps": len(whole.ts), "exposed_steps": series.exposed_steps,
                 "open_positions_at_end": portfolio.open_positions()}
        return write_run_reports(
            b.run_dir, title=f"{b.mode} session: {len(symbols)} symbols {b.timeframe}",
            ts=np.asarray(whole.ts, dtype=np.int64), close=equity, equity=equity, trades=trades,
            fees=sum((r.engine.instrument.from_atoms(r.engine.fees_atoms) for r in runners.values()), Decimal(0)),
            exposure_bars=series.exposed_steps,
            timeframe_ms=timeframe_ms(b.timeframe), initial_cash=start, quote=portfolio.quote,
            run_info=info, blocks={"portfolio": block, "symbols": per_symbol}, prices=prices)

    def finish(self, runners: Mapping[str, StrategyRunner], portfolio: Portfolio, series: PortfolioSeries,
               candles: int, reason: str, loop_stall_max_ms: float,
               results: Mapping[str, SessionResults] | None = None) -> dict[str, object]:
        b = self.base
        metrics: dict[str, object] = dict(self.write(runners, portfolio, series, candles, reason, results))
        final = metrics.get("final_equity")
        last = max(r.engine.last_ts for r in runners.values())
        b.events.emit(EventType.RUN_FINISHED, last or b.clock_ms(), mode=b.mode, reason=reason, candles=candles,
                      trades=sum(len(r.engine.trades.trades) for r in runners.values()),
                      final_equity=final.get("value") if isinstance(final, dict) else None,
                      run_dir=str(b.run_dir), loop_stall_max_ms=round(loop_stall_max_ms, 1))
        metrics["loop_stall_max_ms"] = round(loop_stall_max_ms, 1)
        return metrics


def _held(source: SeriesSource) -> SessionResults:
    held = SessionResults.held(source)
    if held is None:  # a programming error: the node passes the stored results
        raise ValueError("the session's older bars or trades are no longer in memory: report from the store's "
                         "results")
    return held
