"""Message schemas: raw kline frames and unified OHLCV rows."""

from __future__ import annotations

import pytest

from tradewarden.data.messages import RejectedMessageError, check_raw, row_to_candle

GOOD = {
    "e": "kline",
    "E": 1,
    "s": "BTCUSDT",
    "k": {
        "t": 60000,
        "T": 119999,
        "s": "BTCUSDT",
        "i": "1m",
        "o": "1.0",
        "c": "1.5",
        "h": "2",
        "l": "0.5",
        "v": "3",
        "x": False,
    },
}


def test_good_frames_pass_wrapped_or_bare() -> None:
    check_raw(GOOD)
    check_raw({"stream": "btcusdt@kline_1m", "data": GOOD})
    check_raw({"result": None, "id": 1})  # not a kline: not our business


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"o": "abc"}, "k.o"),
        ({"t": "60000"}, "k.t"),
        ({"x": "no"}, "k.x"),
        ({"h": None}, "k.h"),
    ],
)
def test_bad_kline_fields_are_named(patch: dict[str, object], where: str) -> None:
    frame = {**GOOD, "k": {**GOOD["k"], **patch}}  # type: ignore[dict-item]
    with pytest.raises(RejectedMessageError, match=where):
        check_raw(frame)


def test_missing_kline_body_and_non_objects() -> None:
    with pytest.raises(RejectedMessageError, match="k"):
        check_raw({"e": "kline", "E": 1, "s": "BTCUSDT"})
    with pytest.raises(RejectedMessageError, match="not a JSON object"):
        check_raw("garbage")


def test_rows() -> None:
    assert row_to_candle([60000, 1, 2, 0.5, 1.5, 3], 60000).close == 1.5
    for row, why in [
        ([60001, 1, 2, 0.5, 1.5, 3], "not aligned"),
        ([60000, 1, 2, 0.5, None, 3], "close"),
        ([60000, 1, 1.2, 0.5, 1.5, 3], "high/low"),
        ([60000, -1, 2, -2, 1, 3], "positive"),
        ([60000, 1, 2, 0.5, 1.5, float("nan")], "volume"),
        ([1, 2], "6 fields"),
    ]:
        with pytest.raises(RejectedMessageError, match=why):
            row_to_candle(row, 60000)


def test_binance_unknown_event_types_are_out_of_schema() -> None:
    check_raw({"e": "surprise"})  # not checked for other exchanges
    with pytest.raises(RejectedMessageError, match="unknown event type 'surprise'"):
        check_raw({"e": "surprise", "payload": [1]}, binance=True)
    assert check_raw(GOOD, binance=True) == 1
