"""Resampling candles to a higher timeframe (1m to 5m, 1h, ...), the way exchanges aggregate them."""

from __future__ import annotations

import numpy as np

from tradewarden.domain.candles import CandleSeries, timeframe_ms


def resample(series: CandleSeries, timeframe: str, drop_partial_edges: bool = True) -> CandleSeries:
    """Aggregate ``series`` into ``timeframe`` buckets aligned to the epoch.

    Open is the first open, high the max, low the min, close the last close and volume the sum of the
    candles in each bucket. Buckets inside the range that miss some candles (exchange downtime) are kept,
    as the exchange itself does; with ``drop_partial_edges`` a first or last bucket the data only partly
    covers is dropped, because it would misstate that bar.
    """
    src = timeframe_ms(series.timeframe)
    dst = timeframe_ms(timeframe)
    if dst % src != 0 or dst < src:
        raise ValueError(f"cannot resample {series.timeframe} to {timeframe}: not a whole multiple")
    if len(series) == 0 or dst == src:
        return CandleSeries(series.ts, series.open, series.high, series.low, series.close, series.volume,
                            series.symbol, timeframe)
    bucket = series.ts - series.ts % dst
    starts = np.flatnonzero(np.concatenate(([True], np.diff(bucket) != 0)))
    ends = np.concatenate((starts[1:], [len(bucket)])) - 1
    ts = bucket[starts]
    o = series.open[starts]
    c = series.close[ends]
    h = np.maximum.reduceat(series.high, starts)
    lo = np.minimum.reduceat(series.low, starts)
    v = np.add.reduceat(series.volume, starts)
    keep = np.ones(len(ts), dtype=bool)
    if drop_partial_edges:
        per_bucket = dst // src
        counts = ends - starts + 1
        first_complete = series.ts[0] == ts[0]
        last_complete = series.ts[-1] == ts[-1] + dst - src
        if not first_complete and counts[0] < per_bucket:
            keep[0] = False
        if not last_complete and counts[-1] < per_bucket:
            keep[-1] = False
    return CandleSeries(ts[keep], o[keep], h[keep], lo[keep], c[keep], v[keep], series.symbol, timeframe)
