"""The portfolio backtest as a user runs it (``backtest --symbols ...``): load every symbol's candles, run them on
one account, write the run directory with the portfolio and each symbol.

The files are those of a one-symbol run (see :mod:`tradewarden.backtest.runner`), over the portfolio:
``equity.csv`` is the portfolio's equity on the aligned time axis, ``trades.csv`` every symbol's trades (its
``symbol`` column tells them apart), ``summary.json`` adds a ``portfolio`` and a ``symbols`` block, and
``summary.html`` shows the portfolio's equity and each symbol's price with its trades.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradewarden import __version__
from tradewarden.backtest.portfolio import Market, PortfolioSimulation, simulate_portfolio_per_candle
from tradewarden.backtest.portfolio_fast import simulate_portfolio_batch
from tradewarden.backtest.runner import BacktestRequest, _iso, _ms, _risk_extra
from tradewarden.data.files import CandleFileError, gaps_of
from tradewarden.data.sample import sample_path
from tradewarden.data.sources import load_market
from tradewarden.data.validation import Gap
from tradewarden.domain.candles import timeframe_ms
from tradewarden.private_files import private_dir


@dataclass
class PortfolioOutcome:
    run_dir: Path
    simulation: PortfolioSimulation
    metrics: dict[str, dict[str, Any]]
    symbols: dict[str, dict[str, Any]]
    gaps: dict[str, list[Gap]]
    seconds: float


def load_markets(req: BacktestRequest) -> list[Market]:
    markets: list[Market] = []
    for instrument, strategy in req.portfolio:
        series = load_market(req.data, instrument.symbol, req.timeframe)
        if req.start or req.end:
            series = series.between(_ms(req.start), _ms(req.end))
        if len(series) == 0:
            raise CandleFileError(req.data or sample_path(), None,
                                  f"no {instrument.symbol} candles between {req.start or 'the start'} and "
                                  f"{req.end or 'the end'}")
        markets.append(Market(series, instrument, strategy))
    return markets


def run_portfolio_backtest(req: BacktestRequest,
                           progress: Callable[[int, int], None] | None = None) -> PortfolioOutcome:
    from tradewarden.backtest.reports import write_run_reports
    from tradewarden.domain.events import EventType
    from tradewarden.observability import EventJournal

    started = time.perf_counter()
    markets = load_markets(req)
    symbols = [m.instrument.symbol for m in markets]
    gaps = {m.instrument.symbol: gaps_of(m.series) for m in markets}
    run_dir = req.out_dir or req.runs_root / (
        f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{req.strategy.name}-portfolio{len(markets)}-{req.timeframe}")
    private_dir(run_dir)
    path = "per_candle" if (req.per_candle or req.risk_config is not None) else "batch"
    first = min(int(m.series.ts[0]) for m in markets)
    last = max(int(m.series.ts[-1]) for m in markets)
    info: dict[str, Any] = {
        "mode": "backtest", "version": __version__, "strategy": req.strategy.describe(),
        "symbol": ",".join(symbols), "symbols": symbols, "timeframe": req.timeframe,
        "strategy_params": {m.instrument.symbol: m.strategy.describe() for m in markets},
        "data": str(req.data) if req.data else f"bundled sample ({sample_path().name})",
        "first_candle": _iso(first), "last_candle": _iso(last), "engine_path": path,
        "settings": req.settings.describe(), "config_hash": req.config_hash, **req.extra_info,
    }
    with EventJournal(run_dir / "events.jsonl") as journal:
        journal.emit(EventType.RUN_STARTED, first, **info)
        for sym, found in gaps.items():
            for gap in found:
                journal.emit(EventType.DATA_GAP, gap.after_ts, symbol=sym, after=_iso(gap.after_ts),
                             before=_iso(gap.before_ts), missing_candles=gap.count)
        risk = None
        if path == "batch":
            sim = simulate_portfolio_batch(markets, req.settings, journal)
        else:
            if req.risk_config is not None:
                from tradewarden.risk import AuditTrail, RiskManager

                risk = RiskManager(req.risk_config, journal, AuditTrail(run_dir / "audit.jsonl"),
                                   instruments={m.instrument.symbol: m.instrument for m in markets})
            tick: Callable[[int], None] | None = None
            if progress is not None:
                report = progress

                def tick(i: int) -> None:
                    report(i, 0)

            sim = simulate_portfolio_per_candle(markets, req.settings, journal, check=risk, risk=risk, progress=tick)
        info["seconds"] = round(time.perf_counter() - started, 3)
        per_symbol = symbol_blocks(sim)
        extra = dict(_risk_extra(risk) or {})
        quote = markets[0].instrument.quote
        metrics = write_run_reports(
            run_dir, title=f"{req.strategy.name} on {len(markets)} symbols {req.timeframe}", ts=sim.ts,
            close=sim.equity, equity=sim.equity, trades=sim.all_trades, fees=sim.fees,
            exposure_bars=sim.exposed_steps, timeframe_ms=timeframe_ms(req.timeframe),
            initial_cash=req.settings.initial_cash, quote=quote, run_info=info, extra=extra or None,
            blocks={"portfolio": portfolio_block(sim, req, quote), "symbols": per_symbol},
            prices=[(m.instrument.symbol, m.series.ts, m.series.close, r.all_trades)
                    for m, r in zip(markets, sim.symbols, strict=True)])
        journal.emit(EventType.RUN_FINISHED, last, trades=len(sim.trades),
                     open_position=any(r.open_trade is not None for r in sim.symbols),
                     final_equity=metrics.get("final_equity", {}).get("value"),
                     seconds=round(time.perf_counter() - started, 3), run_dir=str(run_dir))
    return PortfolioOutcome(run_dir, sim, metrics, per_symbol, gaps, time.perf_counter() - started)


def portfolio_block(sim: PortfolioSimulation, req: BacktestRequest, quote: str) -> dict[str, Any]:
    return {
        "symbols": [r.symbol for r in sim.symbols], "quote": quote, "cash_unit": str(sim.unit),
        "initial_cash": str(req.settings.initial_cash), "final_equity": str(sim.unit * int(sim.equity_units[-1])),
        "steps": len(sim.ts), "exposed_steps": sim.exposed_steps,
        "open_positions_at_end": sum(1 for r in sim.symbols if r.open_trade is not None),
    }


def symbol_blocks(sim: PortfolioSimulation) -> dict[str, dict[str, Any]]:
    """Per symbol: its trades, net pnl (closed trades, and the open one marked at its last close), fees, the
    share of its bars with a position, and its missing bars (never filled in)."""
    out: dict[str, dict[str, Any]] = {}
    for r in sim.symbols:
        bars = len(r.market.series)
        out[r.symbol] = {
            "trades": len(r.trades),
            "pnl": str(sum((t.pnl for t in r.trades), Decimal(0))),
            "open_pnl": str(r.open_trade.pnl) if r.open_trade is not None else "0",
            "fees": str(r.fees),
            "exposure_pct": round(100.0 * r.exposed_bars / bars, 4) if bars else 0.0,
            "bars": bars,
            "missing_bars": r.missing_bars,
            "first_candle": _iso(int(r.market.series.ts[0])),
            "last_candle": _iso(int(r.market.series.ts[-1])),
        }
    return out
