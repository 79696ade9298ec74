"""``replay`` runs its engines bounded as a session's are (``SESSION_WINDOW``): a recording of weeks replays in
flat memory, and the orders and fills it counts are still every one of the session's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tradewarden.config import load_config, masked_dump
from tradewarden.domain.candles import Candle
from tradewarden.engine import window as window_mod
from tradewarden.engine.engine import Engine
from tradewarden.runtime.recording import Recorder
from tradewarden.runtime.replay import replay_recording

#: RSI over two changes with a narrow band: a trade every few bars, so the fills outgrow a small window
OVERRIDES = {"strategy.name": "rsi", "strategy.params.period": "2", "strategy.params.oversold": "49",
             "strategy.params.overbought": "51", "backtest.sizing": "fixed", "backtest.fixed_qty": "0.001",
             "market.timeframe": "1m"}


def candle(i: int, base: float) -> Candle:
    price = base * (1 + 0.01 * math.sin(i / 3))
    return Candle(i * 60_000, price, price * 1.002, price * 0.998, price * 1.001, 5.0)


def record(path: Path, symbols: list[str], n: int) -> None:
    overrides = dict(OVERRIDES, **({"market.symbols": ",".join(symbols)} if len(symbols) > 1 else
                                   {"market.symbol": symbols[0]}))
    cfg = load_config(None, overrides, env={})
    header: dict[str, Any] = {"mode": "paper", "config_hash": "h", "config": masked_dump(cfg)}
    if len(symbols) > 1:
        header["symbols"] = symbols
    rec = Recorder(path, header)
    for i in range(n):
        for k, symbol in enumerate(symbols):
            rec.candle(symbol, "1m", candle(i, 20_000.0 * (k + 1)), warmup=i < 20)
    rec.close()


@pytest.mark.parametrize("symbols", [["BTC/USDT"], ["BTC/USDT", "ETH/USDT"]], ids=["one", "portfolio"])
def test_replay_keeps_only_a_window_of_fills_bars_and_trades(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              symbols: list[str]) -> None:
    path = tmp_path / "recording.jsonl"
    record(path, symbols, 600)
    whole = replay_recording(path, tmp_path / "whole")
    engines: list[Engine] = []
    original = Engine.__init__

    def keep(self: Engine, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        engines.append(self)

    monkeypatch.setattr(Engine, "__init__", keep)
    monkeypatch.setattr(window_mod, "SESSION_WINDOW", 8)
    bounded = replay_recording(path, tmp_path / "bounded")
    assert len(engines) == len(symbols)
    assert whole.fills > 4 * 8 * len(symbols)  # enough fills for the window to drop some
    for engine in engines:
        assert not engine.fills.complete and len(engine.fills.kept()) < 16
        assert not engine.candle_ts.complete and len(engine.candle_ts.kept()) < 16
        assert not engine.keep_history  # only the open orders are held
    # what the replay counts is still the whole session's, and its trading events are the same
    assert (bounded.candles, bounded.orders, bounded.fills) == (whole.candles, whole.orders, whole.fills)
    assert (tmp_path / "bounded" / "events.jsonl").read_text().count('"Fill"') == whole.fills
