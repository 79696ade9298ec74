"""sma_cross through the engine against a short, plain reference implementation written here."""

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from tradewarden.backtest.core import simulate_batch, simulate_per_candle
from tradewarden.backtest.settings import BacktestSettings
from tradewarden.data import load_candles
from tradewarden.domain.instrument import Instrument
from tradewarden.strategies import load_strategy
from tradewarden.venues.params import FillSettings

FAST, SLOW = 20, 50
FEE = Decimal("0.001")
ATOM = Decimal("0.0000001")  # one tick (0.01) times one step (0.00001)


def reference_trades(ts: list[int], opens: list[float], closes: list[float]) -> list[tuple[int, int, Decimal]]:
    """Long-only SMA crossover, 1 BTC, market orders at the next bar's open, 0.1% fee each side."""

    def sma(i: int, n: int) -> float | None:
        if i < n - 1:
            return None
        total = 0.0
        for j in range(i - n + 1, i + 1):
            total += closes[j]
        return total / n

    trades = []
    holding = False
    pending: str | None = None
    entry_ts, entry_price = 0, Decimal(0)
    for i in range(len(closes)):
        if pending is not None:  # fill the order decided on the previous close at this open
            price = Decimal(str(opens[i]))
            fee = (price * FEE).quantize(ATOM, rounding=ROUND_HALF_UP)
            if pending == "buy":
                holding, entry_ts, entry_price, entry_fee = True, ts[i], price, fee
            else:
                holding = False
                trades.append((entry_ts, ts[i], price - entry_price - entry_fee - fee))
            pending = None
        f0, s0, f1, s1 = sma(i - 1, FAST), sma(i - 1, SLOW), sma(i, FAST), sma(i, SLOW)
        if None in (f0, s0, f1, s1):
            continue
        if f1 > s1 and f0 <= s0 and not holding:  # type: ignore[operator]
            pending = "buy"
        elif f1 < s1 and f0 >= s0 and holding:  # type: ignore[operator]
            pending = "sell"
    return trades


def test_engine_matches_reference_exactly(shared_data: Path) -> None:
    candles = load_candles(shared_data / "BTCUSDT-1h-2017-08-17_2022-12-31.csv")
    year = candles.between(1640995200000, 1672531200000)  # 2022: no zero-volume bars
    assert (year.volume > 0).all()
    settings = BacktestSettings(
        initial_cash=Decimal(1_000_000), sizing="fixed", fixed_qty=Decimal(1),
        fill=FillSettings(fee_taker_bps=Decimal(10), fee_maker_bps=Decimal(10), slippage_bps=Decimal(0),
                          volume_fraction=1.0),
    )
    expected = reference_trades(year.ts.tolist(), year.open.tolist(), year.close.tolist())
    assert len(expected) > 50
    inst = Instrument.default_spot("BTC/USDT")
    strategy = load_strategy("sma_cross", {"fast": FAST, "slow": SLOW})
    for sim in (simulate_batch(year, strategy, settings, inst),
                simulate_per_candle(year, strategy, settings, inst, events=_Null())):
        got = [(t.entry_ts, t.exit_ts, t.pnl) for t in sim.trades]
        assert got == expected, sim.path
        assert all(t.qty == Decimal(1) for t in sim.trades)


class _Null:
    def emit(self, type_: str, ts: int, **fields: object) -> None:
        return None
