"""Where a backtest's candles come from: the bundled sample, a file, a directory of files, or a candle store.

:func:`load_market` gives the candles of one symbol at one timeframe from any of them, and refuses
rather than guesses: a symbol the data does not hold is an error naming the symbols it holds (never the
bundled BTC/USDT prices labelled as another market), and a directory holding one symbol at several
timeframes (``shared/data`` has BTC/USDT at 1h, 5m and 1m) is read at the requested timeframe, or at the
coarsest finer one that divides it, then resampled. Files in a directory are told apart by name
(``BTCUSDT-1h-2024.csv``); a directory laid out as an Arrow candle store (what ``tradewarden data import``
and ``data download`` write, ``<root>/<exchange>/<BASE_QUOTE>/<timeframe>/*.arrow``), or a data directory
holding one under ``candles/``, is read as that store.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tradewarden.data.files import (
    CandleFileError,
    read_candle_file,
    symbol_from_name,
    timeframe_from_name,
)
from tradewarden.data.resample import resample
from tradewarden.data.sample import SAMPLE_SYMBOL, sample_path
from tradewarden.domain.candles import CandleSeries, timeframe_ms

CANDLE_SUFFIXES = (".csv", ".zip")
COLUMNS = ("ts", "open", "high", "low", "close", "volume")


def load_market(source: Path | None, symbol: str, timeframe: str) -> CandleSeries:
    """``symbol`` candles at ``timeframe`` from ``source`` (``None``: the bundled sample), validated."""
    if source is None:
        if symbol != SAMPLE_SYMBOL:
            raise CandleFileError(sample_path(), None, f"the bundled sample holds {SAMPLE_SYMBOL} only, not "
                                                       f"{symbol}: pass --data with {symbol} candles")
        return to_timeframe(read_candle_file(sample_path(), None, symbol), timeframe, sample_path())
    if not source.exists():
        raise CandleFileError(source, None, "file or directory not found")
    if not source.is_dir():
        return to_timeframe(read_candle_file(source, None, symbol), timeframe, source)
    store = store_root(source)
    if store is not None:
        return _load_from_store(store, symbol, timeframe)
    held = _timeframes_held(source, symbol)
    chosen = choose_timeframe(source, symbol, timeframe, list(held))
    return to_timeframe(_merge(source, [(f, read_candle_file(f, chosen, symbol)) for f in held[chosen]]),
                        timeframe, source)


def load_directory(directory: Path, timeframe: str | None, symbol: str | None) -> CandleSeries:
    """The files of ``symbol`` at exactly ``timeframe`` in ``directory``, merged in time order.

    Without a symbol the directory must hold one; without a timeframe, one timeframe of it.
    """
    if symbol is None:
        symbols = sorted({s for f in _candle_files(directory) if (s := symbol_from_name(f))})
        if len(symbols) > 1:
            raise CandleFileError(directory, None, f"holds several symbols ({', '.join(symbols)}): name one")
        symbol = symbols[0] if symbols else None
    held = _timeframes_held(directory, symbol)
    if timeframe is None:
        if len(held) > 1:
            raise CandleFileError(directory, None, f"holds {symbol} at several timeframes "
                                                   f"({_describe_held(held)}): name one")
        timeframe = next(iter(held))
    if timeframe not in held:
        raise CandleFileError(directory, None, f"has no {symbol} {timeframe} candle files; it holds {symbol} "
                                               f"at {_describe_held(held)}")
    return _merge(directory, [(f, read_candle_file(f, timeframe, symbol)) for f in held[timeframe]])


def choose_timeframe(where: Path, symbol: str, wanted: str, held: list[str]) -> str:
    """``wanted`` if held, else the coarsest held timeframe that divides it (least resampling, and the
    longest history in practice: finer candles are kept for shorter windows)."""
    if wanted in held:
        return wanted
    step = timeframe_ms(wanted)
    finer = [tf for tf in held if timeframe_ms(tf) < step and step % timeframe_ms(tf) == 0]
    if not finer:
        raise CandleFileError(where, None, f"holds {symbol} at {', '.join(sorted(held, key=timeframe_ms))}; "
                                           f"cannot make {wanted} candles from them")
    return max(finer, key=timeframe_ms)


def to_timeframe(series: CandleSeries, timeframe: str, where: Path) -> CandleSeries:
    """``series`` resampled to ``timeframe``; an error naming ``where`` when that cannot be done."""
    if series.timeframe == timeframe:
        return series
    step, have = timeframe_ms(timeframe), timeframe_ms(series.timeframe)
    if step < have or step % have:
        raise CandleFileError(where, None, f"holds {series.timeframe} candles; "
                                           f"cannot make {timeframe} candles from them")
    return resample(series, timeframe)


def store_root(directory: Path) -> Path | None:
    """The Arrow candle store ``directory`` is (or holds as ``candles/``), if it holds no candle files itself."""
    if _candle_files(directory):
        return None
    for root in (directory, directory / "candles"):
        if root.is_dir() and next(root.glob("*/*/*/[0-9]*.arrow"), None) is not None:
            return root
    return None


def _load_from_store(root: Path, symbol: str, timeframe: str) -> CandleSeries:
    from tradewarden.data.store_arrow import ArrowCandleStore

    store = ArrowCandleStore(root)
    held = store.held()
    mine = [(ex, tf) for ex, sym, tf in held if sym == symbol]
    if not mine:
        symbols = ", ".join(sorted({sym for _, sym, _ in held}))
        raise CandleFileError(root, None, f"the candle store holds no {symbol} candles; it holds {symbols}")
    exchanges = sorted({ex for ex, _ in mine})
    if len(exchanges) > 1:
        raise CandleFileError(root, None, f"the candle store holds {symbol} from several exchanges "
                                          f"({', '.join(exchanges)}); keep one exchange per store to backtest from it")
    chosen = choose_timeframe(root, symbol, timeframe, [tf for _, tf in mine])
    return to_timeframe(store.load(exchanges[0], symbol, chosen), timeframe, root)


def _candle_files(directory: Path) -> list[Path]:
    return sorted(f for f in directory.iterdir() if f.is_file() and f.suffix in CANDLE_SUFFIXES)


def _timeframes_held(directory: Path, symbol: str | None) -> dict[str, list[Path]]:
    """The files of ``symbol`` (by name) per timeframe; a file whose name gives no timeframe is read for it."""
    files = _candle_files(directory)
    mine = [f for f in files if symbol_from_name(f) == symbol] if symbol else files
    if not mine:
        symbols = sorted({s for f in files if (s := symbol_from_name(f))})
        holds = f"it holds {', '.join(symbols)}" if symbols else "no file in it is named like BTCUSDT-1h-....csv"
        raise CandleFileError(directory, None, f"no {symbol or ''} candle files in directory; {holds}")
    held: dict[str, list[Path]] = defaultdict(list)
    for f in mine:
        held[timeframe_from_name(f) or read_candle_file(f, None, symbol).timeframe].append(f)
    return dict(held)


def _describe_held(held: dict[str, list[Path]]) -> str:
    return ", ".join(f"{tf} ({', '.join(f.name for f in files)})"
                     for tf, files in sorted(held.items(), key=lambda kv: timeframe_ms(kv[0])))


def _merge(directory: Path, parts: list[tuple[Path, CandleSeries]]) -> CandleSeries:
    """The parts as one series in time order. Overlapping files must agree where they overlap; where two
    disagree about a candle the error names both, since choosing one would hide a data problem."""
    parts = [(f, s) for f, s in parts if len(s)]
    if not parts:
        raise CandleFileError(directory, None, "the candle files hold no candles")
    if len(parts) == 1:
        return parts[0][1]
    cols = [np.concatenate([getattr(s, n) for _, s in parts]) for n in COLUMNS]
    origin = np.concatenate([np.full(len(s), k) for k, (_, s) in enumerate(parts)])
    order = np.argsort(cols[0], kind="stable")
    cols = [c[order] for c in cols]
    origin = origin[order]
    same = np.flatnonzero(np.diff(cols[0]) == 0)  # row i and i+1 are one candle from two files
    differ = np.zeros(len(same), dtype=bool)
    for c in cols[1:]:
        differ |= c[same] != c[same + 1]
    if differ.any():
        i = int(same[np.flatnonzero(differ)[0]])
        when = datetime.fromtimestamp(int(cols[0][i]) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        a, b = parts[int(origin[i])][0].name, parts[int(origin[i + 1])][0].name
        raise CandleFileError(directory, None, f"{a} and {b} overlap and disagree about the {when} UTC candle; "
                                               f"keep one of them")
    keep = np.ones(len(origin), dtype=bool)
    keep[same + 1] = False
    ts, o, h, lo, c, v = (col[keep] for col in cols)
    return CandleSeries(ts, o, h, lo, c, v, parts[0][1].symbol, parts[0][1].timeframe)
