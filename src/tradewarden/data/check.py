"""Checking candles for gaps, duplicates and bad rows, counting every problem (not only the first).

Used by ``tradewarden data check`` for the store and for files before they are imported. File checks
parse leniently (duplicates and unsorted rows are counted instead of stopping at the first), so one run
shows everything wrong with a file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tradewarden.data.files import CandleFileError, binance_micros
from tradewarden.data.store import CandleStore, from_columns
from tradewarden.data.validation import bad_row_mask, dominant_step, find_gaps, first_problem
from tradewarden.domain.candles import CandleSeries, timeframe_ms


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    rows: int
    gaps: int
    missing: int
    duplicates: int
    bad: int
    first_problem: str | None
    unsorted: int = 0  # rows earlier than the row before them

    @property
    def ok(self) -> bool:
        """Nothing wrong but gaps (the exchange's downtime): every problem reported is a failure."""
        return not (self.duplicates or self.bad or self.unsorted) and self.first_problem is None


def check_series(name: str, s: CandleSeries) -> CheckResult:
    """Counts of each problem in ``s`` (which may be unsorted or hold duplicates)."""
    step = timeframe_ms(s.timeframe)
    bad = bad_row_mask(s.ts, s.open, s.high, s.low, s.close, s.volume, step)
    uniq = np.unique(s.ts)
    duplicates = len(s) - len(uniq)
    gaps = find_gaps(uniq, step)
    problem = first_problem(s.ts, s.open, s.high, s.low, s.close, s.volume, step)
    return CheckResult(
        name,
        len(s),
        len(gaps),
        sum(g.count for g in gaps),
        duplicates,
        int(bad.sum()),
        problem.message if problem else None,
        int(np.count_nonzero(np.diff(s.ts) < 0)),
    )


def check_store(store: CandleStore) -> list[CheckResult]:
    out = []
    for info in store.series():
        s = store.load(info.exchange, info.symbol, info.timeframe)
        out.append(check_series(f"{info.exchange} {info.symbol} {info.timeframe}", s))
    return out


def check_files(target: Path) -> list[CheckResult]:
    from tradewarden.data.importers import candle_files, read_any

    out = []
    for path in candle_files(target):
        try:
            s = read_any(path)
        except CandleFileError as exc:
            lenient = _lenient(path)
            if lenient is None:
                raise
            out.append(
                replace(check_series(path.name, lenient), first_problem=f"line {exc.line}: {exc.problem}")
            )
            continue
        out.append(check_series(path.name, s))
    return out


def _lenient(path: Path) -> CandleSeries | None:
    """The file's columns without the validation that stops at the first problem (CSV files only)."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    if path.suffix != ".csv":
        return None
    raw = path.read_bytes()
    first = raw.split(b"\n", 1)[0].decode("utf-8", "replace")
    has_header = not first[:1].isdigit()
    try:
        table = pacsv.read_csv(
            io.BytesIO(raw),
            read_options=pacsv.ReadOptions(skip_rows=1 if has_header else 0, autogenerate_column_names=True),
        )
    except pa.ArrowException:
        return None
    if table.num_columns < 6:
        return None
    try:
        ts = table.column(0).cast(pa.int64()).to_numpy(zero_copy_only=False)
        cols = [table.column(i).cast(pa.float64()).to_numpy(zero_copy_only=False) for i in range(1, 6)]
    except pa.ArrowException:
        return None
    ts = binance_micros(ts, table.num_columns)
    # the most common spacing, as when the file is read for use: a stray row is a bad row of the file's
    # timeframe, not a reason to take the file for finer data
    step = dominant_step(np.sort(ts))
    from tradewarden.domain.candles import TIMEFRAME_MS

    tf = next((name for name, ms in TIMEFRAME_MS.items() if ms == step), None)
    if tf is None:
        return None
    return from_columns([ts, *cols], path.stem, tf)
