"""EventJournal: one scrubbed JSON object a line, exact types, flushed per line."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import orjson
import pytest

from tradewarden.domain.orders import OrderSide
from tradewarden.observability import EventJournal, iso_utc, read_journal, register_secret


class Colour(enum.Enum):
    RED = "red"


def lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_each_event_is_one_json_line_with_ts_time_type(tmp_path: Path) -> None:
    path = tmp_path / "run" / "events.jsonl"
    with EventJournal(path) as journal:
        journal.emit("RunStarted", 1_609_459_200_000, mode="backtest")
        journal.emit("Fill", 1_609_462_800_123, qty=Decimal("0.00012"), price=Decimal("29000.10"))
    events = lines(path)
    assert events[0] == {"ts": 1_609_459_200_000, "time": "2021-01-01T00:00:00.000Z", "type": "RunStarted",
                         "mode": "backtest"}
    assert events[1]["time"] == "2021-01-01T01:00:00.123Z"
    assert events[1]["qty"] == "0.00012" and events[1]["price"] == "29000.10"  # exact, as strings
    assert list(events[1])[:3] == ["ts", "time", "type"]


def test_values_become_plain_json(tmp_path: Path) -> None:
    with EventJournal(tmp_path / "e.jsonl", keep_in_memory=True) as journal:
        record = journal.emit("X", 0, side=OrderSide.BUY, colour=Colour.RED, where=tmp_path / "a.csv",
                              n=np.int64(7), f=np.float64(0.5), ok=np.bool_(True), arr=np.array([1, 2]),
                              when=datetime(2021, 1, 1, tzinfo=UTC), nested={"d": Decimal("1.50")})
    assert record["side"] == OrderSide.BUY.value and record["colour"] == "red"
    assert record["where"] == str(tmp_path / "a.csv")
    assert record["n"] == 7 and record["f"] == 0.5 and record["ok"] is True and record["arr"] == [1, 2]
    assert record["when"] == "2021-01-01T00:00:00+00:00"
    assert record["nested"] == {"d": "1.50"}
    assert journal.events == [record] == read_journal(tmp_path / "e.jsonl")


def test_unserialisable_value_is_a_clear_error(tmp_path: Path) -> None:
    with EventJournal(tmp_path / "e.jsonl") as journal, pytest.raises(TypeError, match="object"):
        journal.emit("X", 0, thing=object())


def test_lines_are_on_disk_before_close(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    journal = EventJournal(path)
    journal.emit("A", 1)
    journal.emit("B", 2)
    assert [e["type"] for e in lines(path)] == ["A", "B"]  # flushed per line, not at close
    journal.close()
    with pytest.raises(RuntimeError, match="closed"):
        journal.emit("C", 3)


def test_reopening_appends(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    with EventJournal(path) as journal:
        journal.emit("A", 1)
    with EventJournal(path) as journal:
        journal.emit("B", 2)
    assert [e["type"] for e in lines(path)] == ["A", "B"]


def test_secrets_are_scrubbed_in_file_memory_and_return_value(tmp_path: Path,
                                                             canaries: tuple[str, ...]) -> None:
    register_secret("registered-secret-9")
    path = tmp_path / "e.jsonl"
    with EventJournal(path, keep_in_memory=True) as journal:
        record = journal.emit("OrderRejected", 5, reason=f"auth failed for {canaries[0]}",
                              detail={"headers": {"X-MBX-APIKEY": canaries[1]},
                                      "note": "registered-secret-9"},
                              url="https://api.test/v3/order?signature=abcdef123&symbol=BTCUSDT")
    raw = path.read_text()
    for canary in (*canaries, "registered-secret-9", "abcdef123"):
        assert canary not in raw and canary not in str(record) and canary not in str(journal.events)
    assert record["reason"] == "auth failed for ***"
    assert record["detail"] == {"headers": {"X-MBX-APIKEY": "***"}, "note": "***"}
    assert lines(path)[0] == record


def test_memory_only_and_discarding_journals(tmp_path: Path) -> None:
    memory = EventJournal(keep_in_memory=True)
    memory.emit("A", 1, x=1)
    memory.emit("B", 2)
    assert [e["type"] for e in memory.events] == ["A", "B"]
    assert memory.of_type("A") == [{"ts": 1, "time": "1970-01-01T00:00:00.001Z", "type": "A", "x": 1}]
    null = EventJournal()
    assert null.emit("A", 1)["type"] == "A" and null.events == []


@pytest.mark.parametrize(("ms", "expected"), [
    (0, "1970-01-01T00:00:00.000Z"),
    (1_612_345_678_001, "2021-02-03T09:47:58.001Z"),
    (1_612_345_678_999, "2021-02-03T09:47:58.999Z"),
    (-1, "1969-12-31T23:59:59.999Z"),
])
def test_iso_time_is_exact_to_the_millisecond(ms: int, expected: str) -> None:
    assert iso_utc(ms) == expected


def test_read_journal_names_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"ts": 1, "type": "A"}\nnot json\n')
    with pytest.raises(ValueError, match=r"e\.jsonl:2: not a JSON event line"):
        read_journal(path)
