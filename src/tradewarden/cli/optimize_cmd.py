"""``tradewarden optimize``: search or grid-evaluate a strategy's parameters with walk-forward validation
and a final holdout; write the chosen parameters with their provenance; optionally gate them against the
current parameter file. Heavy imports (optuna, sqlalchemy) happen inside the command."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def optimize(
    strategy: Annotated[
        str | None,
        typer.Option(
            help="Built-in strategy (donchian, sma_cross, sma_atr, rsi) or "
            "a strategy file (file.py[:Class]). Default: the config's, "
            "else donchian."
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Candle file or directory. Default: the bundled BTC/USDT 1h sample.")
    ] = None,
    symbol: Annotated[str | None, typer.Option(help="Symbol, e.g. BTC/USDT.")] = None,
    symbols: Annotated[
        str | None,
        typer.Option(help="Several symbols, e.g. BTC/USDT,ETH/USDT: one study per symbol, the chosen "
                          "parameters written as strategy.per_symbol (per_symbol.toml)."),
    ] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Timeframe, e.g. 1h; finer data is resampled.")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First day (UTC), YYYY-MM-DD.")] = None,
    to: Annotated[str | None, typer.Option(help="Day to stop before (UTC), YYYY-MM-DD.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="Config file: strategy, market and backtest settings.")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            help="search: Optuna TPE over the declared ranges; grid: every "
            "combination of --grid / --grid-file."
        ),
    ] = "search",
    grid: Annotated[
        str | None, typer.Option(help='Grid for --mode grid, e.g. "fast=10,20,30;slow=50,100".')
    ] = None,
    grid_file: Annotated[
        Path | None,
        typer.Option(help='Grid for --mode grid from JSON ({"fast": [10, 20]}) or TOML (fast = [10, 20]).'),
    ] = None,
    fix: Annotated[
        list[str] | None, typer.Option(help="Fix a parameter instead of searching it: k=v (repeatable).")
    ] = None,
    trials: Annotated[
        int,
        typer.Option(
            help="Total trials the study should hold (a resumed study runs only "
            "the missing ones; shared by all workers)."
        ),
    ] = 100,
    objective: Annotated[str, typer.Option(help="sharpe | sortino | calmar | profit.")] = "sharpe",
    select_by: Annotated[
        str,
        typer.Option(
            help="Trial value = mean over windows of the objective on the "
            "out-of-sample (oos) or in-sample (is) parts."
        ),
    ] = "oos",
    holdout: Annotated[
        str,
        typer.Option(
            help="Final holdout carved off the end, never seen by the search: 20%, 90d, 2000 (bars)."
        ),
    ] = "20%",
    in_sample: Annotated[
        str | None,
        typer.Option(
            help="In-sample window length (bars, 90d, 30%...). Default: "
            "2x out-of-sample, sized for --windows."
        ),
    ] = None,
    out_of_sample: Annotated[str | None, typer.Option(help="Out-of-sample window length.")] = None,
    step: Annotated[str | None, typer.Option(help="Window step (default: the out-of-sample length).")] = None,
    windows: Annotated[int, typer.Option(help="Number of windows when lengths are not given.")] = 5,
    anchored: Annotated[
        bool, typer.Option("--anchored/--rolling", help="Anchored (growing) or rolling in-sample windows.")
    ] = False,
    overfit_ratio: Annotated[
        float,
        typer.Option(
            help="Flag overfitting when out-of-sample < this fraction of a positive in-sample score."
        ),
    ] = 0.5,
    jobs: Annotated[int, typer.Option(help="Worker processes on this machine sharing the study.")] = 1,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Study storage: an SQLite path/URL or postgresql://... "
            "Default: sqlite file studies.db in --data-dir."
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(
            help="Study name; an existing one is resumed. Default: a new "
            "name from strategy, market, objective and time."
        ),
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Holds the default storage and the study folders.")] = Path(
        "runs/optimize"
    ),
    out: Annotated[Path | None, typer.Option(help="Output folder (default <data-dir>/<study>).")] = None,
    compare_to: Annotated[
        Path | None,
        typer.Option(
            help="Current parameter file: recommend the new parameters "
            "only if their holdout Sharpe beats it by --margin."
        ),
    ] = None,
    margin: Annotated[
        float,
        typer.Option(
            help="Required holdout Sharpe improvement for --compare-to, as a fraction (0.10 = 10%)."
        ),
    ] = 0.10,
    apply: Annotated[
        bool, typer.Option(help="With --compare-to: overwrite that file when the gate says apply.")
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Sampler seed (worker i uses seed + i).")] = None,
    worker: Annotated[
        bool, typer.Option(help="Only run trials of an existing study (another machine's worker); no report.")
    ] = False,
    report_only: Annotated[
        bool, typer.Option(help="Run no trials; analyse and report an existing study.")
    ] = False,
) -> None:
    """Optimize a strategy's parameters with walk-forward validation and a final holdout.

    Examples: `tradewarden optimize --strategy sma_cross --trials 500`;
    `tradewarden optimize --strategy sma_cross --mode grid --grid "fast=10,20,30;slow=50,100"`;
    `tradewarden optimize --study NAME --storage postgresql://user@host/db --worker` on more machines.
    """
    from tradewarden.optimize.study import StudyMismatchError, WorkerError
    from tradewarden.private_files import UnwritablePathError

    try:
        if symbols is not None:
            _run_symbols(**locals())
        else:
            _run(**locals())
    except typer.Exit:
        raise
    except WorkerError as exc:
        raise _fail(str(exc), 1) from None
    except StudyMismatchError as exc:
        raise _fail(str(exc)) from None
    except KeyError:  # optuna.load_study of a name that does not exist
        raise _fail(f"study {study!r} not found in the storage; run once without --worker or "
                    "--report-only to create it") from None
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    except UnwritablePathError as exc:
        raise _fail(str(exc), 1) from None
    except OSError as exc:  # e.g. the SQLite storage's folder cannot be created
        raise _fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", 1) from None
    except RuntimeError as exc:
        if type(exc).__name__ == "LookaheadError":
            raise _fail(str(exc)) from None
        raise


def _run(**opts: Any) -> None:
    from tradewarden.optimize.console import print_gate, print_results, trial_progress
    from tradewarden.optimize.runner import analyse, compare_to, write_results
    from tradewarden.optimize.study import open_study, prepare, run_parallel, run_trials
    from tradewarden.private_files import private_dir

    job = _job(opts)
    if opts["compare_to"] is not None and not opts["compare_to"].is_file():
        raise _fail(f"--compare-to: parameter file {opts['compare_to']} not found")
    if opts["margin"] < 0:
        raise _fail(f"--margin must be >= 0, got {opts['margin']}")
    if opts["jobs"] < 1:
        raise _fail(f"--jobs must be at least 1, got {opts['jobs']}")
    out_dir: Path = opts["out"] or opts["data_dir"] / job.study_name
    if not opts["worker"]:  # before the trials, not after hours of them
        private_dir(out_dir, "output directory")
    prepared = prepare(job)
    plan = prepared.plan
    console.print(
        f"study [bold]{job.study_name}[/] ({_safe(job.storage)}): {prepared.strategy_cls.name} on "
        f"{job.symbol} {job.timeframe}, {plan.total_bars} bars, {len(plan.windows)} "
        f"{'anchored' if plan.anchored else 'rolling'} windows, holdout {plan.total_bars - plan.search_end} "
        f"bars, objective {job.objective}",
        highlight=False,
    )
    if not opts["report_only"]:
        with trial_progress(console, f"{job.mode} {prepared.strategy_cls.name}") as progress:
            if opts["worker"]:
                run_trials(prepared, 0, progress, create=False)
            elif opts["jobs"] == 1:
                run_trials(prepared, 0, progress)
            else:
                run_parallel(prepared, opts["jobs"], progress)
    if opts["worker"]:
        console.print("worker done; run without --worker to analyse and report the study")
        return
    study = open_study(prepared, 0, create=False)
    analysis = analyse(prepared, study, opts["overfit_ratio"])
    print_results(console, analysis)
    gate = None
    if opts["compare_to"] is not None:
        gate = compare_to(analysis, opts["compare_to"], opts["margin"], out_dir, apply=opts["apply"])
        print_gate(console, gate)
        if gate.applied:
            _record_apply(opts["config"], gate.current_file, dict(analysis.best.params), job.study_name)
    paths = write_results(analysis, out_dir, gate)
    console.print(f"parameters: {paths['params']}\nreport: {paths['html']}", highlight=False)


def _run_symbols(**opts: Any) -> None:
    """One study per symbol (each as ``--symbol`` would run it, in its own folder), then per_symbol.toml."""
    from tradewarden.optimize.paramsfile import load_params_file
    from tradewarden.optimize.per_symbol import folder_name, parse_symbols, write_per_symbol
    from tradewarden.private_files import private_dir

    symbols = parse_symbols(opts["symbols"])
    clash = [f"--{name.replace('_', '-')}" for name in ("symbol", "compare_to", "worker", "report_only")
             if opts[name] not in (None, False)]
    if clash:
        raise _fail(f"--symbols runs a new study per symbol; it cannot be combined with {', '.join(clash)}")
    base = opts["study"] or f"symbols{len(symbols)}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    out_dir: Path = opts["out"] or opts["data_dir"] / base
    private_dir(out_dir, "output directory")
    chosen: dict[str, dict[str, Any]] = {}
    studies: list[str] = []
    strategy = timeframe = ""
    for sym in symbols:
        study = f"{base}-{folder_name(sym)}"
        console.rule(f"{sym}", style="dim")
        _run(**{**opts, "symbol": sym, "symbols": None, "study": study, "out": out_dir / folder_name(sym)})
        pf = load_params_file(out_dir / folder_name(sym) / "params.json")
        chosen[sym] = dict(pf.params)
        studies.append(study)
        strategy, timeframe = pf.strategy, pf.data.timeframe
    path = write_per_symbol(out_dir, strategy, timeframe, chosen, studies)
    console.print(f"per-symbol parameters (strategy.per_symbol): {path}", highlight=False)


def _record_apply(config: Path | None, path: Path, params: dict[str, Any], study: str) -> None:
    """A parameter apply is an operator action: stored in the bot's database (found through its config, as
    `run` finds it) for every running bot to copy into its audit trail, with who applied it."""
    import time

    from tradewarden.cli.state import load_state_config, open_risk_store
    from tradewarden.risk.account_audit import local_actor

    with open_risk_store(load_state_config(config)) as store:
        store.record_operator_action("params_applied", local_actor(), time.time_ns() // 1_000_000,
                                     file=str(path), params=params, study=study)


def _safe(url: str) -> str:
    from tradewarden.optimize.study import safe_url

    return safe_url(url)


def _day_ms(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    try:
        d = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise _fail(f"{what}: {text!r} is not a date YYYY-MM-DD") from None
    return int(d.timestamp() * 1000)


def _kv(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _fail(f"{what}: expected key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _job(opts: dict[str, Any]) -> Any:
    """The OptimizeJob from the options, filling gaps from --config when given."""
    from tradewarden.backtest.settings import BacktestSettings
    from tradewarden.domain.instrument import Instrument
    from tradewarden.optimize.space import load_grid_file, parse_grid
    from tradewarden.optimize.study import OptimizeJob
    from tradewarden.strategies import strategy_class

    cfg = _load_config(opts["config"])
    strategy = opts["strategy"] or (cfg.strategy.name if cfg is not None else "donchian")
    market = getattr(cfg, "market", None)
    data = opts["data"] or getattr(market, "data", None)
    symbol = opts["symbol"] or getattr(market, "symbol", None) or "BTC/USDT"
    timeframe = opts["timeframe"] or getattr(market, "timeframe", None) or "1h"
    settings = BacktestSettings.from_config(cfg.backtest) if cfg is not None else BacktestSettings()
    instrument = (
        _instrument(cfg, symbol)
        if cfg is not None
        else Instrument.default_spot(symbol)
        if "/" in symbol
        else None
    )
    if instrument is None:
        raise _fail(f"symbol {symbol!r} must look like BASE/QUOTE, e.g. BTC/USDT")
    cls = strategy_class(strategy)
    fixed_raw = _kv(opts["fix"], "--fix")
    fixed: dict[str, Any] = {}
    for key, value in fixed_raw.items():
        spec = cls.parameters.get(key)
        if spec is None:
            raise _fail(
                f"--fix: strategy {cls.name} has no parameter {key!r} (known: {', '.join(cls.parameters)})"
            )
        parsed = spec.parse(value)
        spec.validate(parsed)
        fixed[key] = parsed
    mode = opts["mode"]
    grid_spec = None
    if mode == "grid":
        if (opts["grid"] is None) == (opts["grid_file"] is None):
            raise _fail("--mode grid needs exactly one of --grid or --grid-file")
        grid_spec = parse_grid(opts["grid"], cls) if opts["grid"] else load_grid_file(opts["grid_file"], cls)
        overlap = sorted(set(grid_spec) & set(fixed))
        if overlap:
            raise _fail(f"parameter(s) {', '.join(overlap)} both fixed and in the grid")
    elif opts["grid"] or opts["grid_file"]:
        raise _fail("--grid / --grid-file need --mode grid")
    study_name = opts["study"] or (
        f"{cls.name}-{symbol.replace('/', '')}-{timeframe}-{opts['objective']}-{mode}-"
        f"{datetime.now(UTC):%Y%m%dT%H%M%S}"
    )
    storage = opts["storage"] or str(opts["data_dir"] / "studies.db")
    return OptimizeJob(
        strategy=strategy,
        study_name=study_name,
        storage=storage,
        data=str(data) if data else None,
        symbol=symbol,
        timeframe=timeframe,
        start_ms=_day_ms(opts["from_"], "--from"),
        end_ms=_day_ms(opts["to"], "--to"),
        settings=settings,
        instrument=instrument,
        objective=opts["objective"],
        select_by=opts["select_by"],
        mode=mode,
        grid=grid_spec,
        fixed=fixed,
        trials=opts["trials"],
        holdout=opts["holdout"],
        in_sample=opts["in_sample"],
        out_of_sample=opts["out_of_sample"],
        step=opts["step"],
        anchored=opts["anchored"],
        windows=opts["windows"],
        seed=opts["seed"],
    )


def _load_config(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        from tradewarden.config import load_config
    except ImportError:
        raise _fail("--config needs the tradewarden.config module, which this build does not have") from None
    return load_config(path, {})


def _instrument(cfg: Any, symbol: str) -> Any:
    from tradewarden.domain.instrument import Instrument

    inst = getattr(cfg, "instrument", None)
    base, _, quote = symbol.partition("/")
    if not quote:
        return None
    if inst is None:
        return Instrument.default_spot(symbol)
    return Instrument(
        symbol, base, quote, inst.tick_size, inst.step_size, inst.min_qty, inst.max_qty, inst.min_notional
    )
