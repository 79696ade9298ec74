"""The dashboard in a real browser (Debian's headless Chromium driven by Playwright) against a bot published
through a real event bus: every page loads with no console error, the fleet card shows the bot and its equity
changes, the live feed shows a new event, the operator's kill switch (reason + confirmation) reaches the risk
store and the page shows the bot HALTED once the bot applied it; a viewer sees no kill switch and is refused a
write. Screenshots go to the test's tmp_path/screens (and the end-to-end paper session's to its own)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tradewarden.api import tokens
from tradewarden.api.app import bot_key, create_app
from tradewarden.api.publish import BotInfo, attach, now_ms
from tradewarden.domain.events import EventType as E
from tradewarden.observability.bus import EventBus
from tradewarden.persistence import Database
from tradewarden.risk.state import TradingState
from tradewarden.risk.store import RiskStateStore

from .browser import ARGS, CHROMIUM, DEADLINE_MS, Console, free_port, need_chromium, serving

pytestmark = pytest.mark.slow


def _sample(bus: EventBus, equity: str, btc: str) -> None:
    ts = now_ms()
    bus.emit(E.EQUITY_SAMPLE, ts, candle_ts=ts, equity=Decimal(equity), pnl=Decimal(equity) - 10_000,
             marks={"BTC/USDT": Decimal(btc)}, balances={"USDT": Decimal("9950")})


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[tuple[Database, EventBus, BotInfo]]:
    """A running bot's read model: a position bought at 100, two equity samples, fresh heartbeats."""
    db = Database.open(None, tmp_path)
    info = BotInfo(account="paper:sim:BTC/USDT:sma_cross", mode="paper", symbols=("BTC/USDT",),
                   strategy="sma_cross", timeframe_ms=60_000, config_hash="cafe")
    bus = EventBus()
    publisher = attach(bus, db, info, period_s=1.0)
    ts = now_ms()
    bus.emit(E.ORDER_PLACED, ts, client_id="b1", symbol="BTC/USDT", side="buy", order_type="market",
             qty=Decimal("0.5"), price=None, stop_price=None, stop_loss=None, take_profit=None, reduce_only=False)
    bus.emit(E.FILL, ts, client_id="b1", symbol="BTC/USDT", side="buy", qty=Decimal("0.5"), price=Decimal("100"),
             fee=Decimal("0.05"), liquidity="taker", reason="entry")
    _sample(bus, "10000.00", "100")
    _sample(bus, "10004.95", "110")
    try:
        yield db, bus, info
    finally:
        bus.close()
        publisher.stop()
        db.close()


def _runs(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "2026-01-01-backtest"
    run.mkdir(parents=True)
    (run / "summary.html").write_text("<!doctype html><html><head><title>r</title></head>"
                                      "<body><h1 id='report'>backtest report</h1></body></html>")
    return tmp_path / "runs"


def _login(page: object, base: str, secret: str) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(f"{base}/login")
    page.fill("#token", secret)
    page.click("#login")
    expect(page.locator("#who")).to_contain_text("(", timeout=DEADLINE_MS)


def test_the_operator_sees_the_fleet_live_and_halts_the_bot_with_the_kill_switch(
        bot: tuple[Database, EventBus, BotInfo], tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    db, bus, info = bot
    store = RiskStateStore(db)
    operator = tokens.create(db, "alice", tokens.Role.OPERATOR, now_ms())
    viewer = tokens.create(db, "eve", tokens.Role.VIEWER, now_ms())
    screens = tmp_path / "screens"
    key = bot_key(info.id)
    with serving(create_app(db, tmp_path, runs_dir=_runs(tmp_path))) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        console = Console()
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        console.watch(page)
        page.goto(base)  # not logged in: the fleet sends the browser to the login page
        expect(page.locator("#token")).to_be_visible(timeout=DEADLINE_MS)
        console.errors.clear()  # that one 401 is the browser's own "failed to load" line, expected here
        _login(page, base, operator)
        assert page.url == f"{base}/"

        # fleet: the bot's card, then its equity changes when the bot samples a new one
        card = page.locator(f'.card[data-key="{key}"]')
        expect(card.locator(".state")).to_have_text("running", timeout=DEADLINE_MS)
        expect(card.locator(".equity")).to_have_text("10004.95", timeout=DEADLINE_MS)
        assert card.locator(".open-positions").inner_text() == "1"
        assert card.locator(".symbols").inner_text() == "BTC/USDT"
        page.screenshot(path=screens / "fleet-before.png", full_page=True)
        _sample(bus, "10009.95", "120")
        expect(card.locator(".equity")).to_have_text("10009.95", timeout=DEADLINE_MS)
        expect(card.locator(".pnl-today")).to_have_text("9.95", timeout=DEADLINE_MS)  # 0.5 * 20 less the fee
        page.screenshot(path=screens / "fleet.png", full_page=True)

        # audit and runs pages, and a run's report
        page.goto(f"{base}/audit")
        expect(page.locator("#audit")).to_contain_text("No audit trail", timeout=DEADLINE_MS)
        page.screenshot(path=screens / "audit.png", full_page=True)
        page.goto(f"{base}/runs")
        link = page.locator("a.run-link")
        expect(link).to_have_text("2026-01-01-backtest", timeout=DEADLINE_MS)
        page.screenshot(path=screens / "runs.png", full_page=True)
        with page.context.expect_page() as opened:
            link.click()
        report = opened.value
        console.watch(report)
        expect(report.locator("#report")).to_have_text("backtest report", timeout=DEADLINE_MS)
        report.close()

        # the bot page: state, charts, positions, the live feed
        page.goto(f"{base}/bot?key={key}")
        expect(page.locator("#bot-state")).to_have_text("running", timeout=DEADLINE_MS)
        expect(page.locator("#trading-state")).to_have_text("ACTIVE", timeout=DEADLINE_MS)
        expect(page.locator("#positions")).to_contain_text("BTC/USDT", timeout=DEADLINE_MS)
        expect(page.locator("#equity-chart path.line")).to_have_count(1, timeout=DEADLINE_MS)
        expect(page.locator("#equity-chart path.buy")).to_have_count(1)  # the entry's marker
        expect(page.locator("#price-charts svg path.buy")).to_have_count(1)
        expect(page.locator("#drawdown-chart path.dd")).to_have_count(1)
        expect(page.locator("#events")).to_contain_text("Fill", timeout=DEADLINE_MS)
        bus.emit(E.ORDER_CANCELLED, now_ms(), client_id="live-feed-canary", symbol="BTC/USDT", reason="test")
        expect(page.locator("#events div").first).to_contain_text("live-feed-canary", timeout=DEADLINE_MS)
        page.screenshot(path=screens / "bot.png", full_page=True)

        # the kill switch: a reason and a confirmation, then the bot (played here) applies it
        page.click("#kill-switch")
        page.fill("#kill-reason", "browser drill")
        page.check("#kill-confirm-box")
        page.click("#kill-confirm")
        end = time.monotonic() + DEADLINE_MS / 1000
        while not store.load().kill_switch.active:
            assert time.monotonic() < end, "the kill switch never reached the risk store"
            time.sleep(0.1)
        (last,) = store.kill_switch_history(1)
        assert (last.reason, last.actor) == ("browser drill", "api:alice")
        snap = store.load()
        snap.states["global"] = (TradingState.HALTED, "kill switch", now_ms())
        store.save(snap, now_ms())
        store.acknowledge_kill_switch(last.event_id, info.id, now_ms())
        expect(page.locator("#trading-state")).to_have_text("HALTED", timeout=DEADLINE_MS)
        expect(page.locator("#kill-state")).to_have_text("ON: browser drill", timeout=DEADLINE_MS)
        page.screenshot(path=screens / "bot-halted.png", full_page=True)
        assert operator not in page.content()
        assert console.errors == []

        # a viewer: no kill switch on the page, and a write made anyway is refused
        vpage = browser.new_context().new_page()
        vconsole = Console()
        vconsole.watch(vpage)
        _login(vpage, base, viewer)
        vpage.goto(f"{base}/bot?key={key}")
        expect(vpage.locator("#bot-state")).to_have_text("running", timeout=DEADLINE_MS)
        expect(vpage.locator("#kill-dialog")).to_be_hidden()
        for control in ("#controls", "#kill-switch", "#kill-off", "#pause", "#resume"):
            expect(vpage.locator(control)).to_be_hidden()
        csrf = next(c["value"] for c in vpage.context.cookies() if c["name"] == "tw_csrf")
        refused = vpage.request.post(f"{base}/api/v1/kill-switch", data={"active": False, "reason": "viewer"},
                                     headers={"X-CSRF-Token": csrf})
        assert refused.status == 403
        assert store.load().kill_switch.active  # still on
        vpage.screenshot(path=screens / "bot-viewer.png", full_page=True)
        assert viewer not in vpage.content() and vconsole.errors == []
        browser.close()
    assert sorted(p.name for p in screens.iterdir()) == ["audit.png", "bot-halted.png", "bot-viewer.png", "bot.png",
                                                         "fleet-before.png", "fleet.png", "runs.png"]


def _wait_http(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 120.0) -> None:
    end = time.monotonic() + deadline_s
    while True:
        assert proc.poll() is None, f"the server exited ({proc.returncode}) before answering"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < end, f"{url} did not answer within {deadline_s} s"
        time.sleep(0.2)


def test_a_real_paper_session_on_the_dashboard_updates_live_and_halts_by_the_kill_switch(tmp_path: Path) -> None:
    """``run --mode paper`` (built-in simulator through ccxt) and ``serve`` on the same database, as an operator
    would start them; the browser sees the bot, its equity move, and the bot HALTED after the kill switch."""
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    db_file, screens = tmp_path / "db" / "bot.db", tmp_path / "screens"
    db_file.parent.mkdir()
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[database]\nurl = "sqlite:///{db_file}"\n'
                   f'[backtest]\nout_dir = "{tmp_path / "runs"}"\n'
                   '[strategy]\nname = "sma_cross"\n[strategy.params]\nfast = 3\nslow = 8\n'
                   '[runtime]\nsim_speed = 600\nsim_fire_drill = false\nwarmup_bars = 30\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    cli = [sys.executable, "-m", "tradewarden.cli.main"]
    made = subprocess.run([*cli, "api", "token", "create", "--name", "alice", "--role", "operator", "--config",
                           str(cfg)], env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    port = free_port()
    logs = [(tmp_path / "bot.log").open("wb"), (tmp_path / "serve.log").open("wb")]
    bot = subprocess.Popen([*cli, "run", "--mode", "paper", "--config", str(cfg), "--out",
                            str(tmp_path / "runs" / "paper")], env=env, stdout=logs[0], stderr=subprocess.STDOUT)
    serve = subprocess.Popen([*cli, "serve", "--config", str(cfg), "--port", str(port)], env=env, stdout=logs[1],
                             stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/healthz", serve)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            console = Console()
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            console.watch(page)
            _login(page, base, secret)
            card = page.locator(".card", has_text="paper:simulator:BTC/USDT:sma_cross")
            expect(card.locator(".state")).to_have_text("running", timeout=4 * DEADLINE_MS)
            expect(card.locator(".equity")).to_have_text(re.compile(r"^\d+(\.\d+)?$"), timeout=4 * DEADLINE_MS)
            first = card.locator(".equity").inner_text()
            page.screenshot(path=screens / "paper-fleet-before.png", full_page=True)
            expect(card.locator(".equity")).not_to_have_text(first, timeout=4 * DEADLINE_MS)
            page.screenshot(path=screens / "paper-fleet.png", full_page=True)
            for path, ready in (("/audit", "#audit table, #audit p"), ("/runs", "#runs table, #runs p")):
                page.goto(base + path)
                expect(page.locator(ready).first).to_be_visible(timeout=DEADLINE_MS)
                page.screenshot(path=screens / f"paper-{path.strip('/')}.png", full_page=True)
            page.goto(base)
            card.locator("h3 a").click()
            expect(page.locator("#bot-state")).to_have_text("running", timeout=DEADLINE_MS)
            expect(page.locator("#events div").first).to_be_visible(timeout=DEADLINE_MS)
            expect(page.locator("#trading-state")).not_to_have_text("HALTED")
            page.screenshot(path=screens / "paper-bot.png", full_page=True)
            page.click("#kill-switch")
            page.fill("#kill-reason", "dashboard drill")
            page.check("#kill-confirm-box")
            page.click("#kill-confirm")
            expect(page.locator("#trading-state")).to_have_text("HALTED", timeout=4 * DEADLINE_MS)
            expect(page.locator("#events")).to_contain_text("KillSwitchActivated", timeout=DEADLINE_MS)
            page.screenshot(path=screens / "paper-bot-halted.png", full_page=True)
            assert secret not in page.content()
            assert console.errors == []
            browser.close()
    finally:
        for proc in (bot, serve):
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=120) for proc in (bot, serve)]
        for log in logs:
            log.close()
    assert codes[0] == 0, (tmp_path / "bot.log").read_text()
