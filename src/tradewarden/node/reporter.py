"""The reporter: the session's report files (summary.json, summary.html, trades.csv, equity.csv) and
``RunFinished`` when it ends, and the daily summary while it runs."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np

from tradewarden.domain.candles import timeframe_ms
from tradewarden.domain.events import EventType
from tradewarden.domain.ports import EventSink
from tradewarden.node.runner import StrategyRunner


class Reporter:
    def __init__(self, run_dir: Path, mode: str, config_hash: str, timeframe: str, initial_cash: Decimal,
                 events: EventSink, clock_ms: Callable[[], int]) -> None:
        self.run_dir = run_dir
        self.mode = mode
        self.config_hash = config_hash
        self.timeframe = timeframe
        self.initial_cash = initial_cash
        self.events = events
        self.clock_ms = clock_ms

    def daily_summary(self, runner: StrategyRunner, candles: int) -> None:
        engine = runner.engine
        inst = engine.instrument
        last = engine.equity_atoms[-1] if engine.equity_atoms else engine.cash_atoms
        self.events.emit(EventType.DAILY_SUMMARY, self.clock_ms(), candles=candles, trades=len(engine.trades.trades),
                         position=inst.from_steps(engine.pos_steps), equity=inst.from_atoms(last),
                         fees=inst.from_atoms(engine.fees_atoms))

    def write(self, runner: StrategyRunner, candles: int, reason: str) -> dict[str, dict[str, object]]:
        """The report files of the run directory; returns the metrics (none before the first candle)."""
        from tradewarden.backtest.reports import write_run_reports, write_trades_csv

        engine = runner.engine
        instrument = engine.instrument
        trades = list(engine.trades.trades)
        if not engine.candle_ts:
            write_trades_csv(self.run_dir / "trades.csv", trades)
            return {}
        info = {"mode": self.mode, "config_hash": self.config_hash, "candles": candles, "reason": reason,
                "strategy": engine.strategy.describe(), "symbol": instrument.symbol, "timeframe": self.timeframe}
        return write_run_reports(
            self.run_dir, title=f"{self.mode} session: {engine.strategy.name} on {instrument.symbol}",
            ts=np.asarray(engine.candle_ts, dtype=np.int64), close=np.asarray(engine.candle_close, dtype=np.float64),
            equity=np.asarray(engine.equity_atoms, dtype=np.float64) * float(instrument.atom), trades=trades,
            fees=instrument.from_atoms(engine.fees_atoms), exposure_bars=engine.exposed_bars,
            timeframe_ms=timeframe_ms(self.timeframe), initial_cash=self.initial_cash,
            quote=instrument.quote, run_info=info)

    def finish(self, runner: StrategyRunner, candles: int, reason: str,
               loop_stall_max_ms: float) -> dict[str, object]:
        """Write the reports, then ``RunFinished``; returns the metrics with the loop's longest stall."""
        engine = runner.engine
        metrics: dict[str, object] = dict(self.write(runner, candles, reason))
        final = metrics.get("final_equity")
        self.events.emit(EventType.RUN_FINISHED, engine.last_ts or self.clock_ms(), mode=self.mode, reason=reason,
                         candles=candles, trades=len(engine.trades.trades),
                         final_equity=final.get("value") if isinstance(final, dict) else None,
                         run_dir=str(self.run_dir), loop_stall_max_ms=round(loop_stall_max_ms, 1))
        metrics["loop_stall_max_ms"] = round(loop_stall_max_ms, 1)
        return metrics
