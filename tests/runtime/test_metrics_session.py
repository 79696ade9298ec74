"""A paper session (built-in simulator, through ccxt) started with ``run --metrics-port`` serves /metrics while
it trades: fills, open positions and orders as they happen, and the kill switch turned on through the CLI."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.runtime.test_state_commands import clean_env, events, wait_for

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Samples | None:
    """The bot's /metrics, or None while it does not answer yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples | None, name: str, **labels: str) -> float | None:
    return None if samples is None else samples.get((name, tuple(sorted(labels.items()))))


@dataclass
class Session:
    trading: Samples = field(default_factory=dict)   # a scrape with a fill and an open position
    halted: Samples = field(default_factory=dict)    # a scrape after the kill switch went on
    event_types: list[str] = field(default_factory=list)
    exit_code: int | None = None


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    tmp_path = tmp_path_factory.mktemp("metrics-session")
    db_file = tmp_path / "db" / "bot.db"
    db_file.parent.mkdir()
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "bot-data"}"\n[database]\nurl = "sqlite:///{db_file}"\n'
                   '[strategy]\nname = "sma_cross"\n[strategy.params]\nfast = 3\nslow = 8\n'
                   '[runtime]\nsim_speed = 600\nsim_fire_drill = false\nwarmup_bars = 30\n')
    env, port, run_dir, out = clean_env(tmp_path), free_port(), tmp_path / "run", Session()
    log = (tmp_path / "bot.log").open("wb")
    bot = subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main", "run", "--mode", "paper", "--config",
                            str(cfg), "--out", str(run_dir), "--metrics-port", str(port)],
                           env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def trading() -> bool:
            got = scrape(port)
            if (value(got, "tradewarden_fills_total") or 0) >= 1 and value(got, "tradewarden_open_positions") == 1:
                assert got is not None
                out.trading = got
                return True
            return False

        wait_for("a scrape with a fill and an open position", trading, bot)
        done = subprocess.run([sys.executable, "-m", "tradewarden.cli.main", "kill-switch", "on", "--config",
                               str(cfg), "--reason", "metrics drill", "--by", "alice", "--wait", "30"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

        def halted() -> bool:
            got = scrape(port)
            if value(got, "tradewarden_kill_switch") == 1:
                assert got is not None
                out.halted = got
                return True
            return False

        wait_for("tradewarden_kill_switch 1", halted, bot)
    finally:
        bot.send_signal(signal.SIGTERM)
        out.exit_code = bot.wait(timeout=120)
        log.close()
    out.event_types = [e["type"] for e in events(run_dir / "events.jsonl")]
    yield out


def test_a_paper_session_serves_its_trading_and_the_kill_switch_at_metrics(session: Session) -> None:
    assert session.exit_code == 0
    got = session.trading
    assert value(got, "tradewarden_kill_switch") == 0
    assert value(got, "tradewarden_trading_state", scope="global") == 0
    placed = value(got, "tradewarden_orders_total", result="placed")
    assert placed is not None and placed >= 1
    notional = value(got, "tradewarden_position_notional", symbol="BTC/USDT")
    assert notional is not None and notional > 0  # long only: the open position is a long one
    assert value(got, "tradewarden_timeframe_seconds") == 300  # the default 5m bars
    assert value(got, "tradewarden_last_candle_age_seconds", symbol="BTC/USDT") is not None
    rss = value(got, "process_resident_memory_bytes")
    assert rss is not None and rss > 0
    latency = value(got, "tradewarden_order_latency_seconds_count")
    assert latency == placed  # one observation per order placed
    # the kill switch went on from the CLI; the bot acknowledged it and says so at /metrics
    assert value(session.halted, "tradewarden_trading_state", scope="global") == 2
    assert "KillSwitchActivated" in session.event_types


def test_a_paper_session_serves_its_equity(session: Session) -> None:
    assert "EquitySample" in session.event_types
    equity = value(session.trading, "tradewarden_equity")
    assert equity is not None and equity > 0
    assert value(session.trading, "tradewarden_pnl_today") is not None


def test_a_taken_metrics_port_or_a_bad_one_is_one_clear_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    env["TRADEWARDEN_DATA_DIR"] = str(tmp_path / "data")
    run = [sys.executable, "-m", "tradewarden.cli.main", "run", "--mode", "paper", "--out", str(tmp_path / "run"),
           "--metrics-port"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*run, str(port)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    bad = subprocess.run([*run, "70000"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2  # a validation error
    assert "observability.metrics_port: must be <= 65535" in bad.stderr
