"""The live console: the panel's render on a known state, trading as INFO lines in a paper session's log, and
``runs/latest`` at the newest run."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from tradewarden.domain.events import EventType as E
from tradewarden.node.console import ConsoleState, SymbolLine, render
from tradewarden.observability.bus import Event

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def test_the_panel_shows_each_symbol_equity_state_and_latest_events() -> None:
    st = ConsoleState("paper", {"BTC/USDT": SymbolLine(), "ETH/USDT": SymbolLine()})
    fill = {"client_id": "c1", "symbol": "BTC/USDT", "side": "buy", "qty": "0.5", "price": "100", "fee": "0.05",
            "reason": "entry"}
    st.apply(Event(1, E.FILL, T0, fill))
    st.apply(Event(2, E.EQUITY_SAMPLE, T0, {"candle_ts": T0, "equity": "10004.95", "pnl": "4.95",
                                            "marks": {"BTC/USDT": "110", "ETH/USDT": "3000"}}))
    st.apply(Event(3, E.TRADING_STATE_CHANGED, T0, {"scope": "global", "from": "ACTIVE", "to": "HALTED",
                                                    "reason": "kill switch"}))
    console = Console(record=True, width=140)
    console.print(render(st))
    text = console.export_text()
    assert "equity 10004.95" in text and "pnl 4.95" in text and "state HALTED" in text
    btc = next(line for line in text.splitlines() if "BTC/USDT" in line and "2026-01-01 00:00" in line)
    # 0.5 bought at 100 plus 0.05 fee, marked at 110: 4.95
    assert "110" in btc and "0.5" in btc and "4.95" in btc
    assert "Fill: client_id=c1 symbol=BTC/USDT side=buy qty=0.5 price=100" in text
    assert st.symbols["BTC/USDT"].pnl == Decimal("4.95")


@pytest.mark.slow
def test_a_paper_session_logs_orders_and_fills_at_info_and_links_runs_latest(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env["TRADEWARDEN_DATA_DIR"] = str(tmp_path / "data")
    runs = tmp_path / "runs"
    for name in ("first", "second"):
        done = subprocess.run(
            [sys.executable, "-m", "tradewarden.cli.main", "run", "--mode", "paper", "--duration", "3h",
             "--no-console", "--set", "runtime.sim_speed=1500", "--set", "runtime.sim_fire_drill=false",
             "--set", "strategy.name=sma_cross", "--set", "strategy.params.fast=3", "--set",
             "strategy.params.slow=8", "--set", "runtime.warmup_bars=30", "--out", str(runs / name)],
            env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert (runs / "latest").resolve() == (runs / name).resolve()
    logged = "".join(p.read_text() for p in (tmp_path / "data" / "logs").iterdir())
    lines = [line for line in logged.splitlines() if "tradewarden.trading" in line]
    assert any("OrderPlaced: client_id=" in line for line in lines)
    assert any("Fill: client_id=" in line for line in lines)
