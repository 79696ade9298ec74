"""A bot's recorded state built by hand (runtime store rows, an audit trail, run directories), so that every
number of a report can be checked against a value computed here, by hand."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tradewarden.domain.orders import OrderSide
from tradewarden.domain.portfolio import Fill
from tradewarden.domain.trades import Trade
from tradewarden.persistence.database import Database
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.risk.account_audit import trail_path

H = 3_600_000
D = int(datetime(2026, 3, 10, tzinfo=UTC).timestamp() * 1000)   # a Tuesday, ISO week 2026-W11
ACCOUNT = "paper:simulator:BTC/USDT:sma_cross"
ATOM = Decimal("0.01") * Decimal("0.00001")
FILTERS = {"tick_size": "0.01", "step_size": "0.00001", "min_qty": "0.00001", "max_qty": "9000",
           "min_notional": "5"}

# closed trades: one the day before, three on the day (a win, a loss, a zero), one the day after
TRADES = [
    Trade("BTC/USDT", "long", D - 3 * H, D - 1 * H, Decimal(100), Decimal(101), Decimal(1), Decimal("50"),
          Decimal(1), "signal"),
    Trade("BTC/USDT", "long", D, D + 1 * H, Decimal(100), Decimal(105), Decimal("0.1"), Decimal("12.5"),
          Decimal(2), "signal"),
    Trade("BTC/USDT", "long", D + H, D + 2 * H, Decimal(100), Decimal(99), Decimal("0.1"), Decimal("-4.25"),
          Decimal("1.5"), "stop_loss"),
    Trade("ETH/USDT", "long", D + 2 * H, D + 3 * H, Decimal(10), Decimal(10), Decimal(2), Decimal(0),
          Decimal(0), "signal"),
    Trade("BTC/USDT", "long", D + 24 * H, D + 25 * H, Decimal(100), Decimal(110), Decimal(1), Decimal("100"),
          Decimal(1), "take_profit"),
]
# equity per bar: before the day, on it (a dip at D+23h), and after
BARS = [(D - 2 * H, Decimal("10000")), (D - 1 * H, Decimal("10050")), (D + 1 * H, Decimal("10062.5")),
        (D + 23 * H, Decimal("10040")), (D + 25 * H, Decimal("10170"))]
# (ts, client id, symbol, side, qty, price, fee); approved: whether the audit trail approved the order
FILLS = [
    (D - 3 * H, "tw-btc-0", "BTC/USDT", "buy", "0.05", "100", "0.005", True),
    (D + H // 2, "tw-btc-1", "BTC/USDT", "buy", "0.1", "100", "0.01", True),      # position 0.15 x 100 = 15
    (D + 1 * H, "tw-btc-2", "BTC/USDT", "sell", "0.1", "105", "0.0105", True),
    (D + 2 * H, "tw-eth-1", "ETH/USDT", "buy", "2", "10", "0.02", True),          # 2 x 10 = 20 > 15: breach
    (D + 3 * H, "tw-eth-1-sl", "ETH/USDT", "sell", "2", "10", "0.02", False),     # its stop: the order's approval
    (D + 4 * H, "tw-ghost", "BTC/USDT", "buy", "0.01", "100", "0.001", False),    # never approved
    (D + 6 * H, "tw-btc-7-sl", "BTC/USDT", "sell", "0.01", "100", "0.001", False),  # live: the candle's stop
]
APPROVED_WITHOUT_FILL = "tw-btc-7-0"   # the order placed at candle tw-btc-7 (its stop filled, above)
POSITION_LIMIT = 15


def write_state(data_dir: Path) -> None:
    db = Database.open(None, data_dir)
    try:
        store = RuntimeStore(db, ACCOUNT)
        with store.step() as w:
            w.save_snapshot("instruments", {"BTC/USDT": FILTERS, "ETH/USDT": FILTERS}, D)
            w.save_snapshot("trades:0", {"trades": [asdict(t) for t in TRADES]}, D)
            w.save_snapshot("series:0", {"ts": [t for t, _ in BARS], "close": [1.0] * len(BARS),
                                         "equity": [int(e / ATOM) for _, e in BARS]}, D)
            for n, (ts, cid, sym, side, qty, price, fee, _) in enumerate(FILLS):
                w.record_fill(Fill(ts, cid, sym, OrderSide(side), Decimal(qty), Decimal(price), Decimal(fee)),
                              f"{cid}#{n}")
    finally:
        db.close()
    trail = trail_path(data_dir, ACCOUNT)
    trail.parent.mkdir(parents=True, exist_ok=True)
    ids = [cid for _, cid, *_, approved in FILLS if approved] + [APPROVED_WITHOUT_FILL]
    trail.write_text("".join(json.dumps({"seq": n, "ts": D, "type": "TRADE_APPROVED", "client_id": cid}) + "\n"
                             for n, cid in enumerate(ids)))


def event(ts: int, type_: str, **fields: Any) -> str:
    return json.dumps({"ts": ts, "time": "", "type": type_, **fields}) + "\n"


def write_runs(runs: Path) -> None:
    """Run 1 up from D to D+6h, silent until run 2 starts at D+8h and beats past the day's end: 22 h up."""
    one = [event(D, "RunStarted", mode="paper")]
    one += [event(D + m * 60_000, "Heartbeat", loop_stall_max_ms=1.0) for m in range(1, 361)]
    one += [event(D - H, "OrderDenied", reason_code="KILL_SWITCH"),   # before the day: not counted
            event(D + H, "OrderDenied", reason_code="MAX_POSITION_NOTIONAL"),
            event(D + 2 * H, "OrderDenied", reason_code="MAX_POSITION_NOTIONAL"),
            event(D + 3 * H, "OrderDenied", reason_code="KILL_SWITCH"),
            event(D + 3 * H, "CircuitBreakerTripped", breaker="daily_loss", scope="global", action="HALTED"),
            event(D + 3 * H, "KillSwitchActivated", reason="drill", actor="alice"),
            event(D + 4 * H, "FeedReconnected"), event(D + 4 * H, "FeedReconnected"),
            event(D + 5 * H, "BarsMissing", symbols=["ETH/USDT", "BTC/USDT"]),
            event(D + 5 * H, "DataGap", missing_candles=3),
            event(D + 5 * H, "RECONCILE_MISMATCH", mismatches=[{"kind": "a"}, {"kind": "b"}]),
            event(D + 5 * H, "HALTED_OPS", reason="RECONCILE_MISMATCH", what_to_do="look")]
    two = [event(D + 8 * H, "RunStarted", mode="paper"), event(D + 8 * H, "SessionResumed", open_orders=1, fills=4)]
    two += [event(D + 8 * H + m * 60_000, "Heartbeat", loop_stall_max_ms=1.0, rss_mb=300 + m % 7 * 3.5)
            for m in range(1, 17 * 60 + 1)]
    two += [event(D + 9 * H, "FeedReconnected"), event(D + 25 * H, "FeedReconnected"),
            event(D + 10 * H, "TradingStateChanged", scope="global", to="HALTED", reason="breaker daily_loss")]
    backtest = [event(D, "RunStarted", mode="backtest"), event(D + H, "FeedReconnected"),
                event(D + H, "OrderDenied", reason_code="X")]
    for name, lines in (("r1", one), ("r2", two), ("bt", backtest)):
        (runs / name).mkdir(parents=True)
        (runs / name / "events.jsonl").write_text("".join(lines))


def config(tmp: Path, extra: str = "") -> Path:
    cfg = tmp / "bot.toml"
    cfg.write_text(f'data_dir = "{tmp / "data"}"\n[backtest]\nout_dir = "{tmp / "runs"}"\n'
                   f'[risk]\nmax_position_notional = {POSITION_LIMIT}\n' + extra)
    write_state(tmp / "data")
    write_runs(tmp / "runs")
    return cfg


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The config of a bot whose database, audit trail and run directories hold the data above."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for name in [k for k in os.environ if k.startswith("TRADEWARDEN_")]:
        monkeypatch.delenv(name)
    return config(tmp_path)
