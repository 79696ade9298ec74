"""Market data: candle files and their formats, validation, resampling and the bundled sample.

It reads the uniform CSV of the project's shared data (``timestamp,open,high,low,close,volume``, UTC
milliseconds) and Binance's public kline CSVs, validates every row (one clear message naming file, line
and problem), reports gaps without filling them, and resamples to higher timeframes. It also owns the
candle store (Arrow IPC files on disk, or SQL), file imports, the shared Redis candle cache, exchange
access through ccxt with one retry policy, history downloads and the market-data feeds (ccxt.pro live,
file replay).
"""

from typing import TYPE_CHECKING, Any

from tradewarden.data.files import CandleFileError, load_candles, read_candle_file
from tradewarden.data.resample import resample
from tradewarden.data.sample import SAMPLE_SYMBOL, SAMPLE_TIMEFRAME, sample_path
from tradewarden.data.store import CandleStore, SeriesInfo, StoreError, open_store
from tradewarden.data.validation import Gap, find_gaps

if TYPE_CHECKING:
    from tradewarden.data.feed_replay import ReplayFeed

__all__ = [
    "SAMPLE_SYMBOL",
    "SAMPLE_TIMEFRAME",
    "CandleFileError",
    "CandleStore",
    "Gap",
    "ReplayFeed",
    "SeriesInfo",
    "StoreError",
    "find_gaps",
    "load_candles",
    "open_store",
    "read_candle_file",
    "resample",
    "sample_path",
]


def __getattr__(name: str) -> Any:
    # The replay feed needs asyncio (about 40 ms to import); only sessions use it, not a backtest.
    if name == "ReplayFeed":
        from tradewarden.data.feed_replay import ReplayFeed

        return ReplayFeed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
