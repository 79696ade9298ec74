"""The exchange a session trades on: the configured one, or the built-in simulator started for this run.

With no exchange configured, a paper or shadow session starts the built-in exchange simulator (replaying the
bundled 1m sample, accelerated, with a fire drill of faults) and trades against it; a live one refuses
(``NO_EXCHANGE``, in the live gate): live trades the simulator only when ``exchange.urls`` points at it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradewarden.config.models import AppConfig
from tradewarden.data.exchange import ExchangeSettings
from tradewarden.domain.candles import timeframe_ms
from tradewarden.node.options import SessionError
from tradewarden.private_files import write_private

#: a ccxt exchange object (sync or ccxt.pro): ccxt ships no type information, so it stays loosely typed here
CcxtExchange = Any

FIRE_DRILL = """\
# The built-in fire drill: what the simulator throws at a paper session with nothing configured.
faults:
  - at_candle: 40
    kind: drop_connections
  - at_candle: 90
    kind: stall_streams
    seconds: 12
  - at_candle: 140
    kind: rate_limit
    count: 2
    retry_after: 1
  - at_candle: 190
    kind: server_errors
    count: 3
  - at_candle: 240
    kind: malformed_messages
    count: 1
  - at_candle: 300
    kind: drop_connections
"""


@dataclass(frozen=True)
class Endpoint:
    """Where orders go: ``settings`` for a configured exchange, else the simulator's ccxt config."""

    label: str                            # what BOOT_SEAL names as the exchange
    simulated: bool                       # the exchange is a simulator (built-in or pointed at by urls)
    settings: ExchangeSettings | None = None
    ccxt_config: dict[str, object] | None = None
    trade_after: int | None = None        # built-in simulator: the last warm-up bar (its clock starts there)


@dataclass(frozen=True)
class Exchanges:
    orders: CcxtExchange   # sync ccxt: orders
    reads: CcxtExchange    # sync ccxt with its own rate limiter: reads (reconciliation, order lookups)
    feed: CcxtExchange     # ccxt.pro: the candle stream


@contextlib.contextmanager
def open_endpoint(cfg: AppConfig, run_dir: Path, warmup_bars: int,
                  say: Callable[[str], None] = print) -> Iterator[Endpoint]:
    """The configured exchange, or a built-in simulator started now and stopped when the block ends."""
    if cfg.exchange.id is not None:
        from tradewarden.data.exchange import settings_from_config
        from tradewarden.runtime.live_checks import identify_endpoint

        # exchange.urls may lead elsewhere than the exchange: BOOT_SEAL names where orders really go
        endpoint = identify_endpoint(cfg.exchange.id, cfg.exchange.urls, cfg.exchange.sandbox)
        if endpoint.origin is not None:
            say(f"exchange: {endpoint.label}")
        yield Endpoint(endpoint.label, endpoint.simulator, settings=settings_from_config(cfg))
        return
    from tradewarden.data import load_candles
    from tradewarden.data.sample import sample_1m_path
    from tradewarden.simulator.testing import start_simulator

    scenario = None
    if cfg.runtime.sim_fire_drill:
        scenario = run_dir / "fire-drill.yaml"
        write_private(scenario, FIRE_DRILL)
    data = cfg.runtime.sim_data or sample_1m_path()
    replayed = load_candles(data)
    # history the simulator has "in the past" at start, in its own candles: enough for the warm-up
    past = (warmup_bars + 2) * (timeframe_ms(cfg.market.timeframe) // timeframe_ms(replayed.timeframe)) + 5
    symbols = cfg.market.traded_symbols
    # one file: the simulator replays it for every symbol, each other symbol at its own price scale
    with start_simulator(data=data, symbols=symbols, speed=cfg.runtime.sim_speed,
                         seed=cfg.runtime.sim_seed, start_index=past, scenario=scenario,
                         balances={symbols[0].split("/")[1]: str(cfg.backtest.initial_cash)}) as sim:
        say(f"built-in exchange simulator on {sim.base_url} (x{cfg.runtime.sim_speed:g}, "
            f"replaying {Path(data).name}{', fire drill on' if scenario else ''})")
        # the simulator's clock starts at this candle: trading begins after the last bar closed by then, the
        # same bar however long our own boot takes (the simulator's clock runs in real time x speed)
        tf = timeframe_ms(cfg.market.timeframe)
        trade_after = int(replayed.ts[min(past, len(replayed) - 1)]) // tf * tf - tf
        yield Endpoint("built-in simulator", True, ccxt_config=dict(sim.ccxt_config()), trade_after=trade_after)


def make_exchanges(endpoint: Endpoint, mode: str, has_key: bool) -> Exchanges:
    """(sync ccxt exchange for orders, another for reads with its own rate limiter, ccxt.pro for the feed)."""
    if endpoint.settings is not None:
        from tradewarden.data.exchange import make_exchange

        settings = endpoint.settings
        return Exchanges(make_exchange(settings, "sync"), make_exchange(settings, "sync"),
                         make_exchange(settings, "pro"))
    import ccxt
    import ccxt.pro

    conf = dict(endpoint.ccxt_config or {})
    if mode != "live":  # paper and shadow hold no keys, even for the simulator
        conf.pop("apiKey", None)
        conf.pop("secret", None)
    elif not has_key:
        raise SessionError("live mode needs keys")
    return Exchanges(ccxt.binance(dict(conf)), ccxt.binance(dict(conf)), ccxt.pro.binance(dict(conf)))
