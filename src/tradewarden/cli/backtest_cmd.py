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
    symbols: Annotated[str | None, typer.Option(help="Several symbols on one account with one cash balance, "
                                                "e.g. BTC/USDT,ETH/USDT (a portfolio backtest).")] = None,
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
                                           risk_config, per_candle, set_, symbols)
        from tradewarden.backtest.reports import print_summary
        from tradewarden.backtest.runner import run_backtest

        if request.portfolio:
            from tradewarden.backtest.portfolio_runner import run_portfolio_backtest

            with delayed_progress(console, f"Backtesting {request.strategy.name}", total=None) as bar:
                portfolio = run_portfolio_backtest(request, progress=lambda i, n: bar.update(i, n))
            _print_portfolio(portfolio, request, cfg_hash)
            return
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


def _print_portfolio(outcome: Any, request: Any, cfg_hash: str) -> None:
    from decimal import Decimal

    from rich.table import Table

    from tradewarden.backtest.reports import print_summary

    for sym, found in outcome.gaps.items():
        if found:
            missing = sum(g.count for g in found)
            console.print(f"[yellow]data gaps in {sym}:[/] {len(found)} gap(s), {missing} candle(s) missing, not "
                          "filled (the symbol does nothing at those times); each is a DataGap event")
    symbols = ",".join(outcome.symbols)
    print_summary(console, outcome.metrics,
                  f"{request.strategy.name} portfolio {symbols} {request.timeframe} ({outcome.simulation.path} path)")
    table = Table(title="per symbol", min_width=90)
    for column in ("symbol", "trades", "pnl", "open pnl", "fees", "exposure %", "bars", "missing bars"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for sym, b in outcome.symbols.items():
        table.add_row(sym, str(b["trades"]), *(f"{Decimal(b[k]):,.2f}" for k in ("pnl", "open_pnl", "fees")),
                      f"{b['exposure_pct']:.2f}",
                      str(b["bars"]), str(b["missing_bars"]))
    console.print(table)
    console.print(f"config hash {cfg_hash}")
    console.print(f"report: {outcome.run_dir}/summary.html  ({outcome.seconds:.2f} s)")


def _build_request(strategy: str | None, data: Path | None, symbol: str | None, timeframe: str | None,
                   from_: str | None, to: str | None, params: list[str] | None, config: Path | None,
                   out: Path | None, risk_config: Path | None, per_candle: bool,
                   set_: list[str] | None, symbols: str | None = None) -> tuple[Any, str]:
    from tradewarden.backtest.runner import BacktestRequest
    from tradewarden.backtest.settings import BacktestSettings
    from tradewarden.config import config_hash, load_config, parse_overrides
    from tradewarden.strategies import load_strategy

    overrides: dict[str, Any] = parse_overrides(list(set_ or []))
    if symbol is not None and symbols is not None:
        from tradewarden.config import ConfigError

        raise ConfigError(["--symbol and --symbols: give one of them"])
    for key, value in (("strategy.name", strategy), ("market.data", data), ("market.symbol", symbol),
                       ("market.symbols", symbols if symbols is not None else symbol),
                       ("market.timeframe", timeframe), ("backtest.start", from_), ("backtest.end", to)):
        if value is not None:
            overrides[key] = str(value)
    for key, value in parse_overrides(list(params or [])).items():
        overrides[f"strategy.params.{key}"] = value
    cfg = load_config(config, overrides)
    from tradewarden.observability import setup_logging

    setup_logging(cfg.logging.level, cfg.log_file, cfg.logging.console, max_bytes=cfg.logging.max_bytes,
                  backups=cfg.logging.backups)
    risk = None
    if risk_config is not None:
        from tradewarden.risk import load_risk_config_file

        risk = load_risk_config_file(risk_config)
        # the risk settings (and so the active stage) are part of what the hash covers
        cfg = cfg.model_copy(update={"risk": risk})
    elif cfg.risk.model_fields_set:  # a risk section with settings in it: the backtest runs the risk gate
        risk = cfg.risk
    instruments = cfg.trading_instruments()
    first = instruments[0]
    strat = load_strategy(cfg.strategy.name, cfg.strategy.params_for(first.symbol))
    portfolio = [(i, load_strategy(cfg.strategy.name, cfg.strategy.params_for(i.symbol))) for i in instruments] \
        if len(instruments) > 1 else []
    request = BacktestRequest(
        strategy=strat, settings=BacktestSettings.from_config(cfg.backtest), instrument=first, portfolio=portfolio,
        data=cfg.market.data, symbol=first.symbol, timeframe=cfg.market.timeframe,
        start=cfg.backtest.start, end=cfg.backtest.end, out_dir=out, runs_root=cfg.backtest.out_dir,
        config_hash=config_hash(cfg), risk_config=risk, per_candle=per_candle,
    )
    return request, config_hash(cfg)


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
