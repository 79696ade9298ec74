from pathlib import Path

import numpy as np
import pytest

from tradewarden.data import load_candles, resample
from tradewarden.domain.candles import CandleSeries

HOUR = 3_600_000


def compare_complete_hours(fine: CandleSeries, hourly: CandleSeries) -> tuple[int, int]:
    """(hours compared, hours with identical OHLC) over hours the fine file covers completely."""
    per = HOUR // {"1m": 60_000, "5m": 300_000}[fine.timeframe]
    bucket = fine.ts - fine.ts % HOUR
    hours, counts = np.unique(bucket, return_counts=True)
    complete = set(hours[counts == per].tolist())
    res = resample(fine, "1h")
    idx_res = {int(t): i for i, t in enumerate(res.ts)}
    idx_ref = {int(t): i for i, t in enumerate(hourly.ts)}
    compared = same = 0
    for t in sorted(complete & set(idx_ref)):
        i, j = idx_res[t], idx_ref[t]
        compared += 1
        if (res.open[i], res.high[i], res.low[i], res.close[i]) == (
            hourly.open[j], hourly.high[j], hourly.low[j], hourly.close[j]
        ):
            same += 1
    return compared, same


@pytest.mark.parametrize(
    ("fine_file", "expected_compared", "max_differences"),
    [
        # figures from the shared data README's cross-checks
        ("BTCUSDT-1m-2020-05-21_2020-06-20.csv", 719, 0),
        ("BTCUSDT-5m-2020-12-01_2021-07-17.csv", 5476, 3),
    ],
)
def test_fine_files_reproduce_the_hourly_file(shared_data: Path, fine_file: str, expected_compared: int,
                                              max_differences: int) -> None:
    fine = load_candles(shared_data / fine_file)
    hourly = load_candles(shared_data / "BTCUSDT-1h-2017-08-17_2022-12-31.csv")
    compared, same = compare_complete_hours(fine, hourly)
    assert compared == expected_compared
    assert compared - same <= max_differences


def test_resample_by_hand() -> None:
    ts = np.array([0, 60_000, 120_000, 180_000, 240_000, 300_000], dtype=np.int64)
    s = CandleSeries(ts, np.array([1.0, 2, 3, 4, 5, 6]), np.array([2.0, 3, 9, 5, 6, 7]),
                     np.array([0.5, 1, 2, 3, 4, 5]), np.array([2.0, 3, 4, 5, 6, 6.5]),
                     np.array([1.0, 1, 1, 1, 1, 10]), "X/Y", "1m")
    r = resample(s, "5m", drop_partial_edges=True)
    # the bucket at 300_000 holds one of five minutes: a partial edge, dropped
    assert r.ts.tolist() == [0]
    assert (r.open[0], r.high[0], r.low[0], r.close[0], r.volume[0]) == (1.0, 9.0, 0.5, 6.0, 5.0)
    kept = resample(s, "5m", drop_partial_edges=False)
    assert kept.ts.tolist() == [0, 300_000]
    assert np.array_equal(resample(s, "1m").close, s.close)  # same timeframe: unchanged
    with pytest.raises(ValueError, match="not a whole multiple"):
        resample(kept, "1m")  # cannot make finer candles
