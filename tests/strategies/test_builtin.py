from pathlib import Path

import numpy as np
import pytest

from tradewarden.data import load_candles, sample_path
from tradewarden.domain.candles import CandleSeries
from tradewarden.strategies import BUILTINS, LookaheadError, ParamError, StrategyLoadError, load_strategy
from tradewarden.strategies.base import check_causal


def series(close: list[float], high: list[float] | None = None, low: list[float] | None = None) -> CandleSeries:
    c = np.array(close, dtype=float)
    h = np.array(high, dtype=float) if high else c + 0.5
    lo = np.array(low, dtype=float) if low else c - 0.5
    ts = np.arange(len(c), dtype=np.int64) * 3_600_000
    return CandleSeries(ts, c.copy(), h, lo, c, np.ones(len(c)), "BTC/USDT", "1h")


def test_donchian_rules() -> None:
    # entry_period 5, exit_period 2; highs = close + 0.5, lows = close - 0.5
    close = [10, 10, 10, 10, 10, 11, 11, 9, 9]
    sig = load_strategy("donchian", {"entry_period": 5, "exit_period": 2}).signals(series(close))
    # bar 5: close 11 > max high of bars 0..4 (10.5) -> enter
    assert sig.target[5] == 1.0
    # bar 7: close 9 < min low of bars 5..6 (10.5) -> exit
    assert sig.target[7] == 0.0
    assert np.isnan(sig.target[6])


def test_sma_cross_and_rsi_directions() -> None:
    close = [5, 5, 5, 5, 5, 5, 6, 7, 8, 7, 5, 3, 2]
    sig = load_strategy("sma_cross", {"fast": 2, "slow": 5}).signals(series(close))
    ups, downs = np.flatnonzero(sig.target == 1.0), np.flatnonzero(sig.target == -1.0)
    # bar 6: SMA2 5.5 > SMA5 5.2 after 5 <= 5; bar 10: SMA2 6 < SMA5 6.6 after 7.5 >= 6.6
    assert ups.tolist() == [6] and downs.tolist() == [10]
    r = load_strategy("rsi", {"period": 3, "oversold": 30, "overbought": 70}).signals(series(close))
    assert r.target[8] == -1.0  # three rises in a row: RSI 100
    assert r.target[12] == 1.0  # three falls in a row: RSI 0
    assert np.isnan(r.target[4])  # nothing moved: RSI 50


def test_sma_atr_filters_quiet_markets_and_sets_atr_stop() -> None:
    close = [100, 100, 100, 100, 100, 100, 101, 102, 103, 104]
    quiet = load_strategy("sma_atr", {"fast": 2, "slow": 5, "atr_period": 3, "min_atr_frac": 0.05})
    assert not (quiet.signals(series(close)).target == 1.0).any()
    loud = load_strategy("sma_atr", {"fast": 2, "slow": 5, "atr_period": 3, "min_atr_frac": 0.001, "atr_stop": 2})
    sig = loud.signals(series(close))
    assert np.flatnonzero(sig.target == 1.0).tolist() == [6]
    assert sig.stop_loss is not None
    # true ranges of bars 4, 5, 6: 1, 1 and 1.5 (101.5 - previous close 100) -> ATR 3.5 / 3
    assert sig.stop_loss[6] == pytest.approx(101 - 2 * 3.5 / 3, abs=1e-12)


def test_params_are_typed_ranged_and_validated() -> None:
    s = load_strategy("sma_cross", {"fast": "10", "slow": 30.0})
    assert s.params == {"fast": 10, "slow": 30}
    with pytest.raises(ParamError, match="outside its range"):
        load_strategy("sma_cross", {"fast": 1})
    with pytest.raises(ParamError, match="unknown parameter"):
        load_strategy("sma_cross", {"fastest": 3})
    with pytest.raises(ParamError, match="shorter than slow"):
        load_strategy("sma_cross", {"fast": 50, "slow": 20})
    specs = {p["name"]: p for p in BUILTINS["donchian"].param_specs()}
    assert specs["entry_period"]["low"] == 5 and specs["entry_period"]["default"] == 20


def test_every_builtin_is_causal_on_real_data() -> None:
    candles = load_candles(sample_path())[:4000]
    for name in BUILTINS:
        strategy = load_strategy(name)
        check_causal(strategy, candles, strategy.signals(candles), checkpoints=6)


CHEATER = '''
import numpy as np
from tradewarden.strategies import IntParam, Signals, Strategy

class Cheater(Strategy):
    """Buys when tomorrow's close is higher: a lookahead bug."""
    name = "cheater"
    n = IntParam(1, "bars to peek", low=1, high=5)

    @property
    def lookback(self) -> int:
        return 2

    def signals(self, candles):
        c = np.asarray(candles.close)
        target = np.full(len(c), np.nan)
        target[:-1] = np.where(c[1:] > c[:-1], 1.0, 0.0)
        return Signals(target)
'''


def test_a_strategy_that_peeks_ahead_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "cheater.py"
    path.write_text(CHEATER)
    strategy = load_strategy(str(path))
    candles = load_candles(sample_path())[:2000]
    with pytest.raises(LookaheadError, match="looks ahead"):
        check_causal(strategy, candles, strategy.signals(candles))


def test_per_candle_view_cannot_be_written() -> None:
    candles = load_candles(sample_path())[:100].read_only()
    with pytest.raises(ValueError):
        candles.close[0] = 1.0


def test_loading_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(StrategyLoadError, match="unknown strategy"):
        load_strategy("nope")
    with pytest.raises(StrategyLoadError, match="not found"):
        load_strategy(str(tmp_path / "missing.py"))
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(StrategyLoadError, match="boom"):
        load_strategy(str(broken))
