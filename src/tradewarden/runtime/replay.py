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
from tradewarden.runtime.recording import RecordingError, open_recording

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
        engine = Engine(strategy, instrument, venue, journal, settings.engine_settings(), settings.initial_cash,
                        cfg.market.timeframe, check=risk, risk=risk, keep_history=False)
        engine.history.max_bars = max(4 * strategy.lookback, 2_000)
        n = 0
        for history_only, candle in recording.steps():
            if history_only:
                engine.warm_up([candle])
            else:
                engine.on_candle(candle)
                n += 1
    return ReplayResult(run_dir, n, engine.orders_placed, len(engine.fills))
