"""What happened in a period, measured from what the bot recorded as it happened (docs/REPORTS.md).

* **The database** (the runtime store of every account): closed trades (``trades:<k>`` snapshots: realised
  PnL net of fees, win rate, best and worst), fills (``runtime_fills``: fees, fill count, position-limit
  check), the equity per bar (``series:<k>``: unrealised PnL, Sharpe, drawdown, the chart).
* **The run directories** (``events.jsonl`` of each paper/shadow/live run under ``backtest.out_dir``):
  risk denials, breaker trips, kill-switch activations, uptime (``RunStarted``, ``Heartbeat``, ``RunFinished``),
  reconnects, candles missed, peak memory (``Heartbeat.rss_mb`` when the bot records it), incidents.

Every event and row is placed in the period by its own ``ts``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tradewarden.domain.events import EventType as E
from tradewarden.domain.instrument import Instrument
from tradewarden.domain.trades import Trade
from tradewarden.errors import BadInput
from tradewarden.persistence.database import Database
from tradewarden.persistence.runtime_models import RuntimeFillRow, RuntimeSnapshotRow
from tradewarden.persistence.runtime_store import decode_snapshot
from tradewarden.risk.account_audit import trail_path

DAY_MS = 86_400_000
_PROTECTIVE = ("-sl", "-tp", "-ts")
INCIDENTS = {E.HALTED_OPS, E.RECONCILE_MISMATCH, E.SESSION_RESUMED, E.LEASE_LOST, E.FOREIGN_WRITER}


class ReportDataError(BadInput, ValueError):
    """A record the report cannot read; the message names the file or account and what is wrong."""


@dataclass
class SymbolFacts:
    trades: int = 0
    wins: int = 0
    realised_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    fills: int = 0


@dataclass(frozen=True)
class Incident:
    ts: int
    kind: str
    detail: str


@dataclass
class Facts:
    start_ms: int
    end_ms: int
    symbols: dict[str, SymbolFacts] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    unrealised_pnl: Decimal | None = None
    equity: list[tuple[int, Decimal]] = field(default_factory=list)  # (bar ts, equity) summed over accounts
    equity_before: Decimal | None = None                            # the equity at the last bar before start
    denials: Counter[str] = field(default_factory=Counter)
    breaker_trips: list[str] = field(default_factory=list)
    kill_switch_activations: int = 0
    up_ms: int = 0
    observed_ms: int = 0
    reconnects_by_day: Counter[str] = field(default_factory=Counter)
    candles_missed: int = 0
    peak_rss_mb: float | None = None
    incidents: list[Incident] = field(default_factory=list)
    position_breaches: int = 0
    unaudited_fills: list[str] = field(default_factory=list)
    last_ms: int | None = None   # the newest record seen, inside the period or not (the latest day with data)

    def seen(self, ts: int) -> None:
        self.last_ms = ts if self.last_ms is None else max(self.last_ms, ts)

    @property
    def realised_pnl(self) -> Decimal:
        return sum((s.realised_pnl for s in self.symbols.values()), Decimal(0))

    @property
    def pnl(self) -> Decimal:
        """The period's PnL: the equity's change over it (from the last bar before it, else its first bar),
        realised and unrealised alike; without an equity series, the realised PnL."""
        if not self.equity:
            return self.realised_pnl
        start = self.equity_before if self.equity_before is not None else self.equity[0][1]
        return self.equity[-1][1] - start

    @property
    def fees(self) -> Decimal:
        return sum((s.fees for s in self.symbols.values()), Decimal(0))

    @property
    def fills(self) -> int:
        return sum(s.fills for s in self.symbols.values())

    @property
    def win_rate_pct(self) -> Decimal | None:
        """Trades with pnl > 0 over all closed trades, in % (None without a trade)."""
        if not self.trades:
            return None
        wins = sum(1 for t in self.trades if t.pnl > 0)
        return (Decimal(wins) * 100 / len(self.trades)).quantize(Decimal("0.01"))

    @property
    def uptime_pct(self) -> Decimal | None:
        if self.observed_ms <= 0:
            return None
        return (Decimal(self.up_ms) * 100 / self.observed_ms).quantize(Decimal("0.01"))

    @property
    def reconnects(self) -> int:
        return sum(self.reconnects_by_day.values())

    @property
    def restarts(self) -> int:
        return sum(1 for i in self.incidents if i.kind == E.SESSION_RESUMED)


def in_period(ts: int, facts: Facts) -> bool:
    return facts.start_ms <= ts < facts.end_ms


def day_of(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d")


# -- the database ------------------------------------------------------------------------------------------
def _snapshots(db: Database) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    with db.session() as s:
        rows = s.execute(select(RuntimeSnapshotRow.account, RuntimeSnapshotRow.name, RuntimeSnapshotRow.data)
                         .where(RuntimeSnapshotRow.name.in_(["instruments"])
                                | RuntimeSnapshotRow.name.startswith("series:")
                                | RuntimeSnapshotRow.name.startswith("trades:")))
        for account, name, data in rows:
            try:
                out.setdefault(account, {})[name] = decode_snapshot(data)
            except ValueError as exc:
                raise ReportDataError(f"account {account}: snapshot {name!r} is not valid JSON: {exc}") from None
    return out


def _chunks(snaps: dict[str, dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    keys = sorted((int(k[len(prefix):]), k) for k in snaps if k.startswith(prefix) and k[len(prefix):].isdigit())
    return [snaps[k] for _, k in keys]


def _atom(account: str, snaps: dict[str, dict[str, Any]]) -> Decimal:
    """The quote atom the account's equity series counts in (the instruments' filters decide it)."""
    atoms = set()
    for symbol, f in snaps.get("instruments", {}).items():
        base, _, quote = symbol.partition("/")
        atoms.add(Instrument(symbol, base, quote, Decimal(f["tick_size"]), Decimal(f["step_size"]),
                             Decimal(f["min_qty"]), Decimal(f["max_qty"]), Decimal(f["min_notional"])).atom)
    if len(atoms) != 1:
        raise ReportDataError(f"account {account}: cannot tell the equity's unit from its instruments snapshot")
    return atoms.pop()


def _trade(account: str, data: Any) -> Trade:
    try:
        return Trade(**{k: data[k] for k in Trade.__dataclass_fields__})
    except (KeyError, TypeError) as exc:
        raise ReportDataError(f"account {account}: a stored trade is unreadable ({exc!r})") from None


def _account_trades(account: str, snaps: dict[str, dict[str, Any]], facts: Facts) -> Decimal:
    """Adds the account's trades closed in the period; returns the PnL of every trade closed before its end."""
    realised_to_end = Decimal(0)
    for data in (t for chunk in _chunks(snaps, "trades:") for t in chunk.get("trades", [])):
        trade = _trade(account, data)
        if trade.exit_ts < facts.end_ms:
            realised_to_end += trade.pnl
        if in_period(trade.exit_ts, facts):
            facts.trades.append(trade)
            sym = facts.symbols.setdefault(trade.symbol, SymbolFacts())
            sym.trades += 1
            sym.wins += trade.pnl > 0
            sym.realised_pnl += trade.pnl
    return realised_to_end


def _account_bars(account: str, snaps: dict[str, dict[str, Any]]) -> list[tuple[int, Decimal]]:
    series = _chunks(snaps, "series:")
    if not series:
        return []
    atom = _atom(account, snaps)
    try:
        return [(int(ts), int(eq) * atom) for c in series for ts, eq in zip(c["ts"], c["equity"], strict=True)]
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportDataError(f"account {account}: a stored equity series is unreadable ({exc!r})") from None


def read_database(db: Database, facts: Facts, position_limit: Decimal | None) -> None:
    """Trades, fees, equity and the position-limit check of every account in ``db``.

    The equity is summed over the accounts at every bar time, each account counting with its latest bar (an
    account counts from its first bar on). The unrealised PnL at the period's end is, per account, the
    equity change since its first bar that no closed trade has booked yet."""
    bars: list[tuple[int, str, Decimal]] = []
    unrealised: Decimal | None = None
    for account, snaps in sorted(_snapshots(db).items()):
        realised_to_end = _account_trades(account, snaps, facts)
        own = _account_bars(account, snaps)
        if not own:
            continue
        facts.seen(own[-1][0])
        bars += [(ts, account, eq) for ts, eq in own]
        upto = [eq for ts, eq in own if ts < facts.end_ms]
        if upto:
            unrealised = (unrealised or Decimal(0)) + upto[-1] - own[0][1] - realised_to_end
    latest: dict[str, Decimal] = {}
    equity: dict[int, Decimal] = {}
    for ts, account, eq in sorted(bars, key=lambda b: b[0]):
        if ts >= facts.end_ms:
            break
        if ts >= facts.start_ms and facts.equity_before is None and latest and not equity:
            facts.equity_before = sum(latest.values(), Decimal(0))
        latest[account] = eq
        if ts >= facts.start_ms:
            equity[ts] = sum(latest.values(), Decimal(0))
    facts.equity = sorted(equity.items())
    facts.unrealised_pnl = unrealised
    facts.trades.sort(key=lambda t: t.exit_ts)
    _read_fills(db, facts, position_limit)


def _read_fills(db: Database, facts: Facts, position_limit: Decimal | None) -> None:
    position: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with db.session() as s:
        rows = s.execute(select(RuntimeFillRow).order_by(RuntimeFillRow.seq)).scalars().all()
        for row in rows:
            signed = row.qty if row.side == "buy" else -row.qty
            position[(row.account, row.symbol)] += signed - (row.fee_base if row.side == "buy" else Decimal(0))
            facts.seen(row.ts)
            if not in_period(row.ts, facts):
                continue
            sym = facts.symbols.setdefault(row.symbol, SymbolFacts())
            sym.fills += 1
            sym.fees += row.fee
            if position_limit is not None and abs(position[(row.account, row.symbol)]) * row.price > position_limit:
                facts.position_breaches += 1


def audit_gaps(db: Database, data_dir: Path, facts: Facts) -> None:
    """Fills of the period whose order the account's audit trail never approved (``TRADE_APPROVED``)."""
    approved: dict[str, tuple[set[str], set[str]]] = {}
    with db.session() as s:
        rows = s.execute(select(RuntimeFillRow.account, RuntimeFillRow.client_id, RuntimeFillRow.ts)).all()
    for account, client_id, ts in rows:
        if not in_period(ts, facts):
            continue
        if account not in approved:
            approved[account] = _approved(trail_path(data_dir, account))
        ids, candles = approved[account]
        if client_id in ids:
            continue
        # a protective exit carries the id of the order that opened the position (paper) or of the candle
        # that placed it (live: ``tw-<hash>-<candle ms>``), plus -sl, -tp or -ts
        base = next((client_id[: -len(s)] for s in _PROTECTIVE if client_id.endswith(s)), None)
        if base is None or (base not in ids and base not in candles):
            facts.unaudited_fills.append(f"{account} {client_id}")


def _approved(path: Path) -> tuple[set[str], set[str]]:
    """The client ids the trail approved, and the candle ids they were placed at (``tw-<hash>-<candle ms>``)."""
    if not path.exists():
        return set(), set()
    out: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # `audit verify` judges a damaged trail; here an unreadable line approves nothing
        if isinstance(record, dict) and record.get("type") == "TRADE_APPROVED":
            out.add(str(record.get("client_id")))
    return out, {cid.rsplit("-", 1)[0] for cid in out}
