"""A long session holds only the newest bars and trades; its reports still cover the whole session, read
back from the store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.data.sample import sample_1m_path
from tradewarden.domain.trades import Trade
from tradewarden.engine.window import Window
from tradewarden.persistence.database import Database
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.runtime import series as series_mod
from tradewarden.runtime.series import SessionResults, SessionSeries


@dataclass
class Book:
    trades: Window[Trade]


@dataclass
class Held:
    """An engine's per-bar windows as the series sees them."""

    keep: int
    candle_ts: Window[int] = field(init=False)
    candle_close: Window[float] = field(init=False)
    equity_atoms: Window[int] = field(init=False)
    trades: Book = field(init=False)

    def __post_init__(self) -> None:
        self.candle_ts, self.candle_close, self.equity_atoms = Window(self.keep), Window(self.keep), Window(self.keep)
        self.trades = Book(Window(self.keep))


def test_the_whole_session_comes_back_from_the_store_once_the_windows_dropped_bars(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(series_mod, "BAR_CHUNK", 8)
    monkeypatch.setattr(series_mod, "TRADE_CHUNK", 4)
    held, expected = Held(keep=8), SessionResults([], [], [], [])
    with Database.open(None, tmp_path) as db:
        store = RuntimeStore(db, "paper:simulator:BTC/USDT:x")
        series = SessionSeries()
        for i in range(300):
            ts, close, equity = i * 300_000, 60_000.25 + i, 10**12 + 7 * i
            held.candle_ts.append(ts), held.candle_close.append(close), held.equity_atoms.append(equity)
            expected.ts.append(ts), expected.close.append(close), expected.equity.append(equity)
            if i % 3 == 2:
                trade = Trade("BTC/USDT", "long", i, i + 1, Decimal("60000.01"), Decimal(i), Decimal("0.00123"),
                              Decimal(f"-{i}.5"), Decimal("0.1"), "signal")
                held.trades.trades.append(trade)
                expected.trades.append(trade)
            with store.step() as w:
                series.save(w, held, ts)
            assert len(held.candle_ts.kept()) < 16 and len(held.trades.trades.kept()) < 16
        assert SessionResults.held(held) is None  # memory no longer has the whole session
        assert series.results(held, lambda: store.load().snapshots) == expected


def test_a_short_session_reports_from_memory_without_reading_the_store() -> None:
    held = Held(keep=8)
    held.candle_ts.extend([1, 2]), held.candle_close.extend([1.5, 2.5]), held.equity_atoms.extend([10, 11])

    def no_store() -> dict[str, dict[str, object]]:
        raise AssertionError("the store was read although memory holds the whole session")

    assert SessionSeries().results(held, no_store) == SessionResults([1, 2], [1.5, 2.5], [10, 11], [])


SYMBOLS = ["BTC/USDT", "ETH/USDT"]


@pytest.mark.slow
def test_a_session_longer_than_its_windows_reports_exactly_as_one_that_held_everything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tradewarden.node import builder, portfolio_state

    for name in ("LIVE_TRADING", "TRADEWARDEN_EXCHANGE__API_KEY", "TRADEWARDEN_EXCHANGE__API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    args = ["--symbols", ",".join(SYMBOLS), "--duration", "200m", "--set", f"runtime.sim_data={sample_1m_path()}",
            "--set", "market.timeframe=1m", "--set", "runtime.sim_speed=3000", "--set", "runtime.sim_fire_drill=false",
            "--set", "strategy.name=rsi", "--set", "strategy.params.period=2",
            "--set", "strategy.params.oversold=45", "--set", "strategy.params.overbought=55"]
    monkeypatch.setattr(series_mod, "BAR_CHUNK", 8)
    monkeypatch.setattr(series_mod, "TRADE_CHUNK", 4)
    loads: list[str] = []
    original = SessionSeries.load

    def counted(self: SessionSeries, snapshots: object) -> SessionResults:
        loads.append(self.series_prefix)
        return original(self, snapshots)  # type: ignore[arg-type]

    monkeypatch.setattr(SessionSeries, "load", counted)
    outputs = {}
    for label, keep in (("whole", 10**9), ("bounded", 8)):
        monkeypatch.setattr(builder, "SESSION_WINDOW", keep)
        monkeypatch.setattr(portfolio_state, "WINDOW", keep)
        monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(tmp_path / f"data-{label}"))
        out = tmp_path / label
        loads.clear()
        result = CliRunner().invoke(app, ["run", "--mode", "paper", "--out", str(out), *args])
        assert result.exit_code == 0, result.output
        # the unbounded run reports from memory, the bounded one had to read every series from the store
        assert sorted(loads) == ([] if label == "whole" else sorted(f"series:{s}:" for s in
                                                                   [*SYMBOLS, "portfolio"]))
        summary = json.loads((out / "summary.json").read_text())
        outputs[label] = (summary["portfolio"], summary["symbols"], summary["metrics"],
                          (out / "equity.csv").read_text(), (out / "trades.csv").read_text())
    whole, bounded = outputs["whole"], outputs["bounded"]
    assert whole[0]["steps"] > 100 and all(whole[1][s]["trades"] > 10 for s in SYMBOLS)
    assert bounded == whole


def test_the_account_of_twenty_symbols_fits_the_store_and_differs_per_list(tmp_path: Path) -> None:
    from tradewarden.node.books import account_key

    many = [f"{b}/USDT" for b in ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "BNB", "DOT", "LINK", "LTC", "AVAX",
                                  "ATOM", "TRX", "UNI", "XLM", "ETC", "FIL", "NEAR", "AAVE", "ALGO")]
    key = account_key("paper", None, many, "rsi")
    assert key != account_key("paper", None, many[::-1], "rsi")
    assert account_key("paper", None, many[:2], "rsi") == "paper:simulator:BTC/USDT,ETH/USDT:rsi"
    with Database.open(None, tmp_path) as db:
        RuntimeStore(db, key)  # refused a key over 128 characters before
