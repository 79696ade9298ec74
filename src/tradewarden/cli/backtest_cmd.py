"""``tradewarden backtest``: run a strategy over historical candles and write a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tradewarden.cli.errors import user_errors

console = Console()


def backtest(
    strategy: Annotated[str | None, typer.Option(help="Built-in strategy name (donchian, sma_cross, sma_atr, rsi) "
                                                 "or a path to your own strategy file (file.py[:Class]).")] = None,
    data: Annotated[Path | None, typer.Option(help="Candle file (uniform CSV or Binance kline CSV/zip) or a "
                                              "directory of them. Default: the bundled BTC/USDT 1h sample.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Symbol, e.g. BTC/USDT.")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Timeframe to trade, e.g. 1h; finer data is resampled.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First day (UTC), YYYY-MM-DD.")] = None,
    to: Annotated[str | None, typer.Option(help="Day to stop before (UTC), YYYY-MM-DD.")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Strategy parameter k=v (repeatable).")] = None,
    config: Annotated[Path | None, typer.Option(help="Config file (TOML or YAML).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory to write "
                                             "(default runs/<time>-<strategy>-...).")] = None,
    risk_config: Annotated[Path | None, typer.Option(help="Apply the risk gate from this file (TOML/YAML) "
                                                     "(runs the per-candle path).")] = None,
    per_candle: Annotated[bool, typer.Option(help="Use the per-candle engine path that live modes use.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Any config setting key=value (repeatable).")] = None,
) -> None:
    """Backtest a strategy; with no arguments, donchian on the bundled BTC/USDT 1h sample."""
    from tradewarden.cli.progress import delayed_progress

    with user_errors():
        request, cfg_hash = _build_request(strategy, data, symbol, timeframe, from_, to, param, config, out,
                                           risk_config, per_candle, set_)
        from tradewarden.backtest.reports import print_summary
        from tradewarden.backtest.runner import run_backtest

        with delayed_progress(console, f"Backtesting {request.strategy.name}", total=None) as bar:
            outcome = run_backtest(request, progress=lambda i, n: bar.update(i, n))
    if outcome.gaps:
        missing = sum(g.count for g in outcome.gaps)
        first = ", ".join(f"{g.count} after {_iso(g.after_ts)}" for g in outcome.gaps[:3])
        more = f", ... ({len(outcome.gaps) - 3} more)" if len(outcome.gaps) > 3 else ""
        console.print(f"[yellow]data gaps:[/] {len(outcome.gaps)} gap(s), {missing} candle(s) missing, not filled: "
                      f"{first}{more}; each is a DataGap event")
    title = f"{request.strategy.name} {request.symbol} {request.timeframe} ({outcome.simulation.path} path)"
    print_summary(console, outcome.metrics, title)
    console.print(f"config hash {cfg_hash}")
    console.print(f"report: {outcome.run_dir}/summary.html  ({outcome.seconds:.2f} s)")


def _build_request(strategy: str | None, data: Path | None, symbol: str | None, timeframe: str | None,
                   from_: str | None, to: str | None, params: list[str] | None, config: Path | None,
                   out: Path | None, risk_config: Path | None, per_candle: bool,
                   set_: list[str] | None) -> tuple[Any, str]:
    from tradewarden.backtest.runner import BacktestRequest
    from tradewarden.backtest.settings import BacktestSettings
    from tradewarden.config import config_hash, load_config, parse_overrides
    from tradewarden.strategies import load_strategy

    overrides: dict[str, Any] = parse_overrides(list(set_ or []))
    for key, value in (("strategy.name", strategy), ("market.data", data), ("market.symbol", symbol),
                       ("market.timeframe", timeframe), ("backtest.start", from_), ("backtest.end", to)):
        if value is not None:
            overrides[key] = str(value)
    for key, value in parse_overrides(list(params or [])).items():
        overrides[f"strategy.params.{key}"] = value
    cfg = load_config(config, overrides)
    from tradewarden.observability import setup_logging

    setup_logging(cfg.logging.level, cfg.log_file, cfg.logging.console)
    risk = None
    if risk_config is not None:
        from tradewarden.risk import load_risk_config_file

        risk = load_risk_config_file(risk_config)
        # the risk settings (and so the active stage) are part of what the hash covers
        cfg = cfg.model_copy(update={"risk": risk})
    elif cfg.risk.model_fields_set:  # a risk section with settings in it: the backtest runs the risk gate
        risk = cfg.risk
    strat = load_strategy(cfg.strategy.name, dict(cfg.strategy.params))
    instrument = cfg.trading_instrument()
    request = BacktestRequest(
        strategy=strat, settings=BacktestSettings.from_config(cfg.backtest), instrument=instrument,
        data=cfg.market.data, symbol=cfg.market.symbol, timeframe=cfg.market.timeframe,
        start=cfg.backtest.start, end=cfg.backtest.end, out_dir=out, runs_root=cfg.backtest.out_dir,
        config_hash=config_hash(cfg), risk_config=risk, per_candle=per_candle,
    )
    return request, config_hash(cfg)


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
