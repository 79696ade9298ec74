"""The shared candle store: one SQL table through SQLAlchemy, PostgreSQL in production (any URL works).

Rows are keyed by (exchange, symbol, timeframe, ts); writes are upserts (``ON CONFLICT DO UPDATE``) in
batches, so re-downloading a range is harmless and two bot instances can fill the same table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tradewarden.data.store import SeriesInfo, StoreError, check_writable, empty_series, from_columns
from tradewarden.data.validation import find_gaps
from tradewarden.domain.candles import CandleSeries, timeframe_ms

BATCH = 5000
#: a PostgreSQL advisory lock id: one process at a time creates the store's tables
_CREATE_LOCK = 0x7477_6361_6E64  # "twcand"


class SqlCandleStore:
    """Candles in table ``table`` (default ``candles``) and known upstream gaps in ``<table>_gaps``."""

    def __init__(self, url: str, table: str = "candles") -> None:
        try:
            self.engine = sa.create_engine(_with_driver(url), future=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot open candle store {_safe_url(url)}: {exc}") from None
        meta = sa.MetaData()
        self.table = sa.Table(
            table,
            meta,
            sa.Column("exchange", sa.String(64), primary_key=True),
            sa.Column("symbol", sa.String(64), primary_key=True),
            sa.Column("timeframe", sa.String(8), primary_key=True),
            sa.Column("ts", sa.BigInteger, primary_key=True),
            sa.Column("open", sa.Float(53), nullable=False),
            sa.Column("high", sa.Float(53), nullable=False),
            sa.Column("low", sa.Float(53), nullable=False),
            sa.Column("close", sa.Float(53), nullable=False),
            sa.Column("volume", sa.Float(53), nullable=False),
        )
        self.gaps = sa.Table(
            f"{table}_gaps",
            meta,
            sa.Column("exchange", sa.String(64), primary_key=True),
            sa.Column("symbol", sa.String(64), primary_key=True),
            sa.Column("timeframe", sa.String(8), primary_key=True),
            sa.Column("start_ts", sa.BigInteger, primary_key=True),
            sa.Column("end_ts", sa.BigInteger, nullable=False),
        )
        self._meta = meta
        try:
            with self.engine.begin() as conn:
                if self.engine.dialect.name == "postgresql":
                    # fleet instances starting together on a fresh database would race to create the tables
                    # (PostgreSQL refuses the second CREATE with a duplicate key in its catalogue)
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CREATE_LOCK})
                meta.create_all(conn)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open candle store {_safe_url(url)}: {exc.orig}") from None

    def _insert(self, table: sa.Table) -> Any:
        name = self.engine.dialect.name
        if name == "postgresql":
            return postgresql.insert(table)
        if name == "sqlite":
            return sqlite.insert(table)
        raise StoreError(f"unsupported database {name!r} for the candle store (use PostgreSQL or SQLite)")

    def write(self, exchange: str, series: CandleSeries) -> int:
        return self.write_many(exchange, [series])

    def write_many(self, exchange: str, batch: Sequence[CandleSeries]) -> int:
        """Every series in one transaction: a streaming instance flushes a candle of each of its symbols every
        few seconds, and a commit per symbol made the flush (and the event loop beside it) wait on the server."""
        for series in batch:
            if len(series):
                check_writable(exchange, series)
        ins = self._insert(self.table)
        stmt = ins.on_conflict_do_update(
            index_elements=["exchange", "symbol", "timeframe", "ts"],
            set_={c: ins.excluded[c] for c in ("open", "high", "low", "close", "volume")},
        )
        rows = [row for series in batch for row in _rows(exchange, series)]
        if not rows:
            return 0
        with self.engine.begin() as conn:
            for i in range(0, len(rows), BATCH):
                conn.execute(stmt, rows[i : i + BATCH])
        return len(rows)

    def load(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> CandleSeries:
        t = self.table
        q = sa.select(t.c.ts, t.c.open, t.c.high, t.c.low, t.c.close, t.c.volume).where(
            t.c.exchange == exchange, t.c.symbol == symbol, t.c.timeframe == timeframe
        )
        if start_ms is not None:
            q = q.where(t.c.ts >= start_ms)
        if end_ms is not None:
            q = q.where(t.c.ts < end_ms)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(t.c.ts)).all()
        if not rows:
            return empty_series(symbol, timeframe)
        arr = np.array(rows, dtype=np.float64)
        ts = np.array([r[0] for r in rows], dtype=np.int64)  # exact: float64 would round large ints
        return from_columns([ts, *(np.ascontiguousarray(arr[:, i]) for i in range(1, 6))], symbol, timeframe)

    def series(self) -> list[SeriesInfo]:
        t = self.table
        q = sa.select(t.c.exchange, t.c.symbol, t.c.timeframe).group_by(
            t.c.exchange, t.c.symbol, t.c.timeframe
        )
        with self.engine.connect() as conn:
            keys = conn.execute(q.order_by(t.c.exchange, t.c.symbol, t.c.timeframe)).all()
        out: list[SeriesInfo] = []
        for exchange, symbol, timeframe in keys:
            with self.engine.connect() as conn:
                ts = np.array(
                    conn.execute(
                        sa.select(t.c.ts)
                        .where(
                            t.c.exchange == exchange,
                            t.c.symbol == symbol,
                            t.c.timeframe == timeframe,
                        )
                        .order_by(t.c.ts)
                    )
                    .scalars()
                    .all(),
                    dtype=np.int64,
                )
            out.append(
                SeriesInfo(
                    exchange,
                    symbol,
                    timeframe,
                    int(ts[0]),
                    int(ts[-1]),
                    len(ts),
                    find_gaps(ts, timeframe_ms(timeframe)),
                    self.exchange_gaps(exchange, symbol, timeframe),
                )
            )
        return out

    def exchange_gaps(self, exchange: str, symbol: str, timeframe: str) -> list[tuple[int, int]]:
        g = self.gaps
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(g.c.start_ts, g.c.end_ts)
                .where(
                    g.c.exchange == exchange,
                    g.c.symbol == symbol,
                    g.c.timeframe == timeframe,
                )
                .order_by(g.c.start_ts)
            ).all()
        return [(int(a), int(b)) for a, b in rows]

    def add_exchange_gap(
        self, exchange: str, symbol: str, timeframe: str, start_ms: int, end_ms: int
    ) -> None:
        ins = self._insert(self.gaps)
        stmt = ins.on_conflict_do_update(
            index_elements=["exchange", "symbol", "timeframe", "start_ts"],
            set_={"end_ts": ins.excluded.end_ts},
        )
        with self.engine.begin() as conn:
            conn.execute(
                stmt,
                {
                    "exchange": exchange,
                    "symbol": symbol,
                    "timeframe": timeframe,
                    "start_ts": start_ms,
                    "end_ts": end_ms,
                },
            )

    def drop_tables(self) -> None:
        """Remove this store's tables (tests use it to clean up their uniquely named tables)."""
        self._meta.drop_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def _with_driver(url: str) -> sa.engine.URL | str:
    """``postgresql://`` with the driver that is installed (SQLAlchemy 2.1 defaults to psycopg 3; the
    project ships psycopg2)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return url  # create_engine reports it
    if parsed.drivername == "postgresql":
        import importlib.util

        if importlib.util.find_spec("psycopg") is None:
            return parsed.set(drivername="postgresql+psycopg2")
    return parsed


def _rows(exchange: str, series: CandleSeries) -> list[dict[str, object]]:
    cols = [series.ts.tolist(), series.open.tolist(), series.high.tolist(), series.low.tolist(),
            series.close.tolist(), series.volume.tolist()]
    return [{"exchange": exchange, "symbol": series.symbol, "timeframe": series.timeframe, "ts": t, "open": o,
             "high": h, "low": lo, "close": c, "volume": v} for t, o, h, lo, c, v in zip(*cols, strict=True)]
