"""``tradewarden replay``: re-run a recorded session deterministically.

The recording holds the session's effective config (secrets masked) and every candle it received, warm-up
included. Replay feeds exactly those candles, in the order received, through a fresh engine with the same
strategy, settings and risk gate, against the simulated venue (the paper fill model). A paper session
replays to the same orders, fills and trading events; for shadow and live sessions the decisions (orders)
are the same and the fills are the fill model's. A session resumed after a crash recorded the whole session
(see :mod:`tradewarden.runtime.recording`), so it replays as the one uninterrupted session it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradewarden.private_files import private_dir
from tradewarden.runtime.recording import Recording, RecordingError, open_recording

TRADING_EVENTS = ("OrderPlaced", "OrderDenied", "OrderRejected", "OrderCancelled", "Fill", "PositionOpened",
                  "PositionClosed", "SHADOW_ORDER", "TradingStateChanged", "CircuitBreakerTripped")


@dataclass
class ReplayResult:
    run_dir: Path
    candles: int
    orders: int
    fills: int


def _config_from_header(header: dict[str, Any]) -> Any:
    from tradewarden.config import AppConfig

    data = dict(header.get("config") or {})
    exchange = dict(data.get("exchange") or {})
    for secret in ("api_key", "api_secret", "api_password"):
        exchange[secret] = None  # masked in the recording, and never needed to replay
    exchange["secrets_file"] = None
    data["exchange"] = exchange
    try:
        return AppConfig.model_validate(data)
    except Exception as exc:
        raise RecordingError(f"the recording's config is not valid here: {exc}") from None


def replay_recording(path: Path, out_dir: Path | None = None) -> ReplayResult:
    from tradewarden.backtest.settings import BacktestSettings
    from tradewarden.engine.engine import Engine
    from tradewarden.engine.window import SESSION_WINDOW, session_history_bars
    from tradewarden.observability import EventJournal
    from tradewarden.risk import RiskManager, load_risk_config
    from tradewarden.strategies import load_strategy
    from tradewarden.venues.shadow import ShadowVenue
    from tradewarden.venues.simulated import SimulatedVenue

    recording = open_recording(path)
    missing = recording.header.get("missing_before")
    if missing:
        raise RecordingError(f"{path}: this recording starts where a session resumed after a crash, and the "
                             f"recording before it ({missing}) was not found: its orders cannot be reproduced")
    for resumed in recording.resumes():
        if resumed.get("config_hash") != recording.header.get("config_hash"):
            raise RecordingError(f"{path}: the session resumed after candle {resumed.get('after')} with another "
                                 f"config (hash {resumed.get('config_hash')}): one replay cannot reproduce both")
    cfg = _config_from_header(recording.header)
    run_dir = out_dir or path.parent / f"replay-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    private_dir(run_dir)
    if len(cfg.market.traded_symbols) > 1:
        return _replay_portfolio(recording, cfg, run_dir)
    from tradewarden.runtime.instruments import recorded_instrument

    try:  # the exchange's filters the session traded on, as its header records them
        instrument = recorded_instrument(cfg, recording.header.get("filters"))
    except ValueError as exc:
        raise RecordingError(f"{path}: {exc}") from None
    strategy = load_strategy(cfg.strategy.name, dict(cfg.strategy.params))
    settings = BacktestSettings.from_config(cfg.backtest)
    with EventJournal(run_dir / "events.jsonl") as journal:
        risk = RiskManager(load_risk_config(cfg.risk), journal, instruments={instrument.symbol: instrument})
        venue: Any
        if recording.header.get("mode") == "shadow":
            venue = ShadowVenue(instrument, settings.fill, settings.initial_cash, journal)
        else:
            venue = SimulatedVenue(instrument, settings.fill, settings.initial_cash)
        # bounded as a session's engine is: a recording of weeks replays in flat memory
        engine = Engine(strategy, instrument, venue, journal, settings.engine_settings(), settings.initial_cash,
                        cfg.market.timeframe, check=risk, risk=risk, keep_history=False, window=SESSION_WINDOW)
        engine.history.max_bars = session_history_bars(strategy.lookback)
        n = 0
        for history_only, candle in recording.steps():
            if history_only:
                engine.warm_up([candle])
            else:
                engine.on_candle(candle)
                n += 1
    return ReplayResult(run_dir, n, engine.orders_placed, len(engine.fills))


def _replay_portfolio(recording: Recording, cfg: Any, run_dir: Path) -> ReplayResult:
    """A session of several symbols: its recorded steps (the bars of one open time, recorded together) through
    the portfolio backtest's per-candle steps (:class:`~tradewarden.backtest.portfolio.PortfolioStepper`)."""
    from collections import defaultdict

    from tradewarden.backtest.portfolio import Market, PortfolioStepper
    from tradewarden.backtest.settings import BacktestSettings
    from tradewarden.domain.candles import Candle, CandleSeries
    from tradewarden.engine.window import SESSION_WINDOW
    from tradewarden.observability import EventJournal
    from tradewarden.risk import RiskManager, load_risk_config
    from tradewarden.runtime.instruments import recorded_instrument
    from tradewarden.strategies import load_strategy

    symbols: list[str] = list(cfg.market.traded_symbols)
    instruments = {}
    for symbol in symbols:
        try:
            instruments[symbol] = recorded_instrument(cfg.model_copy(update={"market": cfg.market.model_copy(
                update={"symbol": symbol})}), recording.header.get("filters"))
        except ValueError as exc:
            raise RecordingError(f"{recording.path}: {exc}") from None
    warm: dict[str, list[Candle]] = defaultdict(list)
    steps: dict[int, dict[str, Candle]] = defaultdict(dict)
    for symbol, _, candle in recording.candles(warmup=True):
        warm[symbol].append(candle)
    for symbol, _, candle in recording.candles():
        steps[candle.ts][symbol] = candle
    unknown = sorted({s for bars in steps.values() for s in bars} - set(symbols))
    if unknown:
        raise RecordingError(f"{recording.path}: candles of {', '.join(unknown)}, which the session did not trade")
    markets = [Market(CandleSeries.from_candles(warm[s], s, cfg.market.timeframe), instruments[s],
                      load_strategy(cfg.strategy.name, cfg.strategy.params_for(s))) for s in symbols]
    with EventJournal(run_dir / "events.jsonl") as journal:
        risk = RiskManager(load_risk_config(cfg.risk), journal, instruments=instruments)
        stepper = PortfolioStepper(markets, BacktestSettings.from_config(cfg.backtest), journal, check=risk,
                                   risk=risk, window=SESSION_WINDOW)  # bounded as the session's engines are
        for engine, symbol in zip(stepper.engines, symbols, strict=True):
            engine.warm_up(warm[symbol])
        for ts in sorted(steps):
            stepper.step(ts, steps[ts])
    return ReplayResult(run_dir, sum(len(bars) for bars in steps.values()),
                        sum(e.orders_placed for e in stepper.engines), sum(len(e.fills) for e in stepper.engines))
