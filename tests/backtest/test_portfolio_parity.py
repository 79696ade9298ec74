"""A portfolio backtest (many symbols, one cash balance) is the same by both engine paths, and a portfolio of
one symbol is exactly today's single-symbol backtest."""

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tradewarden.backtest.core import simulate_batch, simulate_per_candle
from tradewarden.backtest.portfolio import Market, PortfolioError, PortfolioSimulation, simulate_portfolio_per_candle
from tradewarden.backtest.portfolio_fast import simulate_portfolio_batch
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.data import load_candles
from tradewarden.domain.candles import CandleSeries
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.strategies import load_strategy
from tradewarden.venues.params import FillSettings

BTC = Instrument.default_spot("BTC/USDT")
# ETH/USDT's real filters: a coarser step, so its money unit (1e-6 USDT) is ten of BTC's (1e-7)
ETH = Instrument("ETH/USDT", "ETH", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"), Decimal("9000"),
                 Decimal("5"))
HOUR = 3_600_000


class Events:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, dict[str, object]]] = []

    def emit(self, type_: str, ts: int, **fields: object) -> None:
        # as events.jsonl writes them: a Decimal and its exact text are the same value
        self.events.append((type_, ts, {k: format(v, "f") if isinstance(v, Decimal) else v
                                        for k, v in fields.items()}))


def assert_same(a: PortfolioSimulation, b: PortfolioSimulation) -> None:
    assert np.array_equal(a.ts, b.ts)
    assert np.array_equal(a.equity_units, b.equity_units)
    assert a.exposed_steps == b.exposed_steps
    for x, y in zip(a.symbols, b.symbols, strict=True):
        assert x.orders == y.orders
        assert x.fills == y.fills
        assert x.trades == y.trades
        assert x.open_trade == y.open_trade
        assert x.fees_atoms == y.fees_atoms
        assert x.exposed_bars == y.exposed_bars
        assert x.missing_bars == y.missing_bars


CASES = [
    ("equity_fraction", BacktestSettings(equity_fraction=0.6), FillSettings()),
    ("quote_with_exits", BacktestSettings(sizing="quote", quote_amount=Decimal("2500")),
     FillSettings(stop_loss_pct=1.0, take_profit_pct=3.0, trailing_stop_pct=1.5)),
    ("short_fixed", BacktestSettings(sizing="fixed", fixed_qty=Decimal("0.2")),
     FillSettings(allow_short=True, volume_fraction=0.02)),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "settings", "fill"), CASES, ids=[c[0] for c in CASES])
def test_portfolio_paths_agree_on_real_btc_and_eth(shared_data: Path, name: str, settings: BacktestSettings,
                                                  fill: FillSettings) -> None:
    settings = BacktestSettings(settings.initial_cash, fill, settings.sizing, settings.equity_fraction,
                                settings.fixed_qty, settings.quote_amount)
    btc = load_candles(shared_data / "BTCUSDT-1h-2017-08-17_2022-12-31.csv")[:5000]
    eth = load_candles(shared_data / "ETHUSDT-1h-2017-08-17_2022-07-11.csv")[:5000]

    def markets() -> list[Market]:
        return [Market(btc, BTC, load_strategy("sma_cross", {"fast": 10, "slow": 30})),
                Market(eth, ETH, load_strategy("donchian", {}))]

    batch_events, candle_events = Events(), Events()
    a = simulate_portfolio_batch(markets(), settings, events=batch_events, keep_records=True)
    b = simulate_portfolio_per_candle(markets(), settings, events=candle_events)  # type: ignore[arg-type]
    assert all(len(s.fills) > 20 for s in a.symbols)
    assert_same(a, b)
    assert batch_events.events == candle_events.events
    # both files have gaps of their own (real data): counted, and no fill ever lands where a symbol has no bar
    assert [s.missing_bars for s in a.symbols] == [_gaps(btc), _gaps(eth)]
    assert all(s.missing_bars > 0 for s in a.symbols)
    for s in a.symbols:
        assert {f[0] for f in s.fills} <= set(s.market.series.ts.tolist())


def _gaps(series: CandleSeries) -> int:
    return int((series.ts[-1] - series.ts[0]) // HOUR + 1 - len(series))


def synthetic(n: int, seed: int, start: float, symbol: str, drop: slice | None = None,
              first: int = 0) -> CandleSeries:
    rng = np.random.default_rng(seed)
    close = np.round(start * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    open_ = np.concatenate(([start], close[:-1]))
    wiggle = np.abs(rng.normal(0, 0.004, (2, n))) * close
    high = np.round(np.maximum(open_, close) + wiggle[0], 2)
    low = np.round(np.minimum(open_, close) - wiggle[1], 2)
    volume = np.round(rng.gamma(2.0, 50.0, n), 4)
    ts = 1_600_000_000_000 - 1_600_000_000_000 % HOUR + np.arange(n, dtype=np.int64) * HOUR
    keep = np.ones(n, dtype=bool)
    keep[:first] = False
    if drop is not None:
        keep[drop] = False
    return CandleSeries(ts[keep], open_[keep], high[keep], low[keep], close[keep], volume[keep], symbol, "1h")


def test_portfolio_paths_agree_with_missing_bars_and_a_late_listing() -> None:
    btc = synthetic(1500, 1, 30_000.0, "BTC/USDT", drop=slice(400, 430))   # 30 bars missing mid-way
    eth = synthetic(1500, 2, 2_000.0, "ETH/USDT", first=200)               # listed 200 bars later
    sol = Instrument("SOL/USDT", "SOL", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"),
                     Decimal("90000"), Decimal("5"))
    sol_series = synthetic(1500, 3, 40.0, "SOL/USDT", drop=slice(1000, 1003))
    settings = BacktestSettings(equity_fraction=0.5, fill=FillSettings(stop_loss_pct=2.0))

    def markets() -> list[Market]:
        return [Market(btc, BTC, load_strategy("sma_cross", {"fast": 5, "slow": 20})),
                Market(eth, ETH, load_strategy("sma_cross", {"fast": 8, "slow": 21})),
                Market(sol_series, sol, load_strategy("donchian", {"entry_period": 20, "exit_period": 10}))]

    batch_events, candle_events = Events(), Events()
    a = simulate_portfolio_batch(markets(), settings, events=batch_events, keep_records=True)
    b = simulate_portfolio_per_candle(markets(), settings, events=candle_events)  # type: ignore[arg-type]
    assert_same(a, b)
    assert batch_events.events == candle_events.events
    assert len(a.ts) == 1500
    assert [s.missing_bars for s in a.symbols] == [30, 0, 3]
    for s in a.symbols:
        assert len(s.fills) > 10
        assert {f[0] for f in s.fills} <= set(s.market.series.ts.tolist())  # never a trade on a made-up bar
    # the shared cash binds: with half the equity per entry, some entries cannot be paid in full
    rejected = [e for e in batch_events.events if e[0] == EventType.ORDER_REJECTED]
    assert rejected and all(e[2]["reason"] == "insufficient balance" for e in rejected)


@pytest.mark.parametrize("sizing", ["equity_fraction", "quote"])
def test_a_one_symbol_portfolio_is_todays_backtest_exactly(shared_data: Path, sizing: str) -> None:
    candles = load_candles(shared_data / "BTCUSDT-1h-2017-08-17_2022-12-31.csv")[:4000]
    settings = BacktestSettings(sizing=sizing, quote_amount=Decimal("3000"),
                                fill=FillSettings(stop_loss_pct=1.0, take_profit_pct=3.0))
    strategy = load_strategy("donchian", {})
    single_events, batch_events, candle_events, per_events = Events(), Events(), Events(), Events()
    single = simulate_batch(candles, strategy, settings, BTC, events=single_events, keep_records=True)
    per = simulate_per_candle(candles, strategy, settings, BTC, events=per_events)  # type: ignore[arg-type]
    a = simulate_portfolio_batch([Market(candles, BTC, strategy)], settings, events=batch_events, keep_records=True)
    b = simulate_portfolio_per_candle([Market(candles, BTC, strategy)], settings,
                                      events=candle_events)  # type: ignore[arg-type]
    assert len(single.fills) > 20
    for sim in (a, b):
        only = sim.symbols[0]
        assert np.array_equal(sim.equity_units, single.equity_atoms)
        assert only.fills == single.fills == per.fills
        assert only.orders == single.orders == per.orders
        assert only.trades == single.trades
        assert only.fees_atoms == single.fees_atoms
        assert only.exposed_bars == single.exposed_bars
    assert batch_events.events == candle_events.events == single_events.events == per_events.events


def test_a_portfolio_of_mixed_quote_currencies_is_refused() -> None:
    eur = Instrument.default_spot("BTC/EUR")
    s = synthetic(50, 1, 30_000.0, "BTC/USDT")
    with pytest.raises(PortfolioError, match="one currency"):
        simulate_portfolio_batch([Market(s, BTC, load_strategy("donchian", {})),
                                  Market(s, eur, load_strategy("donchian", {}))], BacktestSettings())
