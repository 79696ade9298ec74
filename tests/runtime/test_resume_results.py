"""What a session resumed after a crash carries on: its recording (continued up to the last stored candle, so
it replays as the whole session) and its results so far (bars and trades, stored in chunks with each step)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tradewarden.domain.candles import Candle
from tradewarden.domain.trades import Trade
from tradewarden.persistence import Database
from tradewarden.persistence.runtime_store import RuntimeStore, StepWriter, StoredStateError
from tradewarden.runtime.recording import Recorder, RecordingError, continue_recording, open_recording
from tradewarden.runtime.replay import replay_recording
from tradewarden.runtime.series import BAR_CHUNK, SERIES_PREFIX, TRADE_CHUNK, TRADES_PREFIX, SessionSeries


def candle(i: int) -> Candle:
    return Candle(i * 60_000, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 5.0)


def record(path: Path, warm: range, traded: range) -> None:
    rec = Recorder(path, {"mode": "paper", "config_hash": "h1"})
    for i in warm:
        rec.candle("BTC/USDT", "1m", candle(i), warmup=True)
    for i in traded:
        rec.candle("BTC/USDT", "1m", candle(i))
    rec.close()


def test_a_continued_recording_keeps_what_was_stored_and_drops_what_comes_again(tmp_path: Path) -> None:
    first = tmp_path / "run1" / "recording.jsonl"
    record(first, range(0, 5), range(5, 12))
    with first.open("ab") as fh:
        fh.write(b'{"kind":"candle","symbol":"BTC/U')  # the crash tore the last line
    second = tmp_path / "run2" / "recording.jsonl"
    # the store holds the steps up to candle 9: candles 10 and 11 were received but not stored
    assert continue_recording(second, first, candle(9).ts)
    rec = Recorder(second, {"mode": "paper", "config_hash": "other"})  # continues: no second header
    rec.event("resumed", after=candle(9).ts, config_hash="h1")
    rec.candle("BTC/USDT", "1m", candle(10))
    rec.close()
    loaded = open_recording(second)
    assert loaded.header["config_hash"] == "h1"
    assert [(warm, c.ts) for warm, c in loaded.steps()] == \
        [(True, candle(i).ts) for i in range(5)] + [(False, candle(i).ts) for i in range(5, 11)]
    assert loaded.resumes() == [{"kind": "resumed", "after": candle(9).ts, "config_hash": "h1"}]
    assert first.read_bytes().endswith(b'"symbol":"BTC/U')  # the previous run's file is left as it was


def test_a_recording_continues_in_place_when_the_run_directory_is_the_same(tmp_path: Path) -> None:
    path = tmp_path / "recording.jsonl"
    record(path, range(0, 3), range(3, 8))
    assert continue_recording(path, path, candle(5).ts)
    assert [c.ts for _, _, c in open_recording(path).candles()] == [candle(i).ts for i in range(3, 6)]


def test_nothing_to_continue_from(tmp_path: Path) -> None:
    target = tmp_path / "run2" / "recording.jsonl"
    assert not continue_recording(target, tmp_path / "gone.jsonl", 0)
    headless = tmp_path / "headless.jsonl"
    headless.write_text('{"kind":"candle","symbol":"BTC/USDT","timeframe":"1m","c":[0,1,1,1,1,1]}\n')
    assert not continue_recording(target, headless, 0)
    assert not target.exists()


def test_replay_refuses_half_a_session(tmp_path: Path) -> None:
    path = tmp_path / "recording.jsonl"
    Recorder(path, {"mode": "paper", "config_hash": "h1", "missing_before": "/runs/a/recording.jsonl"}).close()
    with pytest.raises(RecordingError, match=r"recording before it \(/runs/a/recording.jsonl\) was not found"):
        replay_recording(path, tmp_path / "out")
    changed = tmp_path / "changed.jsonl"
    rec = Recorder(changed, {"mode": "paper", "config_hash": "h1"})
    rec.event("resumed", after=60_000, config_hash="h2")
    rec.close()
    with pytest.raises(RecordingError, match="resumed after candle 60000 with another config"):
        replay_recording(changed, tmp_path / "out2")


@dataclass
class Book:
    trades: list[Trade] = field(default_factory=list)


@dataclass
class Results:
    """The engine's results as the series sees them."""

    candle_ts: list[int] = field(default_factory=list)
    candle_close: list[float] = field(default_factory=list)
    equity_atoms: list[int] = field(default_factory=list)
    trades: Book = field(default_factory=Book)

    def bar(self, i: int) -> None:
        self.candle_ts.append(i * 300_000)
        self.candle_close.append(60_000.25 + i)
        self.equity_atoms.append(10**12 + 7 * i)
        if i % 3 == 2:
            self.trades.trades.append(Trade("BTC/USDT", "long", i, i + 1, Decimal("60000.01"), Decimal(i),
                                            Decimal("0.00123"), Decimal(f"-{i}.5"), Decimal("0.1"), "signal"))


class CountingWriter:
    """Steps on the store that note the name of each snapshot written."""

    def __init__(self, store: RuntimeStore) -> None:
        self.store = store
        self.names: list[str] = []
        self._step: StepWriter | None = None

    def save_snapshot(self, name: str, data: Mapping[str, Any], ts: int) -> None:
        assert self._step is not None
        self.names.append(name)
        self._step.save_snapshot(name, data, ts)

    def step(self, series: SessionSeries, results: Results, ts: int) -> None:
        with self.store.step() as w:
            self._step = w
            series.save(self, results, ts)


def test_results_survive_a_restart_exactly_across_chunks(tmp_path: Path) -> None:
    bars = 2 * BAR_CHUNK + 5  # three bar chunks; more trades than one trade chunk holds
    assert bars // 3 > TRADE_CHUNK
    with Database.open(None, tmp_path) as db:
        store = RuntimeStore(db, "paper:simulator:BTC/USDT:x")
        writer, series, ran = CountingWriter(store), SessionSeries(), Results()
        for i in range(bars):
            ran.bar(i)
            writer.step(series, ran, i)
        # a step rewrites the one chunk that grew (a trade chunk too when a trade closed), never the old ones
        assert writer.names[-1] == "series:2" and writer.names[-3:-1] == ["series:2", "trades:2"]
        assert writer.names.count("series:0") == BAR_CHUNK and writer.names.count("trades:0") == TRADE_CHUNK
        writer.step(series, ran, bars)  # a step without a new bar or trade writes nothing
        assert len(writer.names) == bars + len(ran.trades.trades)

        resumed = Results()
        again = SessionSeries()
        again.restore(store.load().snapshots, resumed)
        assert resumed == ran
        resumed.bar(bars)  # and it goes on where it stopped
        CountingWriter(store).step(again, resumed, bars)
        final = Results()
        SessionSeries().restore(store.load().snapshots, final)
        assert final == resumed


def test_a_gap_in_the_stored_chunks_is_named(tmp_path: Path) -> None:
    empty: dict[str, list[int]] = {"ts": [], "close": [], "equity": []}
    snapshots = {"series:0": empty, "series:2": empty}
    with pytest.raises(StoredStateError, match=r"series:<k> are not chunks 0..1: \[0, 2\]"):
        SessionSeries().restore(snapshots, Results())


def test_a_new_run_after_a_clean_stop_drops_the_previous_results(tmp_path: Path) -> None:
    with Database.open(None, tmp_path) as db:
        store = RuntimeStore(db, "live:binance:BTC/USDT:x")
        other = RuntimeStore(db, "live:binance:ETH/USDT:x")
        series, ran = SessionSeries(), Results()
        for i in range(BAR_CHUNK + 3):
            ran.bar(i)
        for s in (store, other):
            with s.step() as w:
                series.save(w, ran, 1)
                w.save_snapshot("session", {"completed": True}, 1)
            series = SessionSeries()
        with store.step() as w:
            w.delete_snapshots(SERIES_PREFIX)
            w.delete_snapshots(TRADES_PREFIX)
        assert set(store.load().snapshots) == {"session"}
        assert {"series:0", "series:1", "trades:0", "session"} <= set(other.load().snapshots)  # only this account
