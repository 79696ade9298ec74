"""The Network page in a real browser (Debian's headless Chromium driven by Playwright): the operator presses
Connect on an idle instance (desired ``running`` in the database) and watches its card go through starting and
warming, the warm-up bar move, to active, with the activity feed saying so; the setup form creates an account and
shows the refusal of a bad variable name; a viewer gets no Connect, Stop or form and is refused a write; a canary
secret in the variables an account names, leaked into an instance's error, appears in no page and no answer.

The first test's fixture ``instance_runner`` plays the agent and the runner from the test thread through
``instance_repo``, exactly as they write (the lifecycle moves with ``expect``, heartbeats with warm-up progress),
so that each step of the warm-up can be held on the page. The second runs the real ones: ``tradewarden agent``
for the instances' host, which starts ``tradewarden instance run`` on Connect (with the test work
``instance_works:gated_work``, which holds its warm-up at 0 % until the test opens its gate); the card goes
starting/warming → active; the instance SIGKILLed while its agent is paused shows lost; the agent, resumed,
restarts it → active. Screenshots go to the test's tmp_path/screens."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tradewarden.api import tokens
from tradewarden.api.app import create_app
from tradewarden.api.publish import now_ms
from tradewarden.domain.instances import DesiredState, InstanceRole, InstanceState
from tradewarden.observability.scrub import refresh_secrets
from tradewarden.persistence import Database
from tradewarden.persistence import fleet_repo as registry
from tradewarden.persistence import instance_repo as instances
from tradewarden.persistence.fleet_repo import WarmupProgress

from .browser import ARGS, CHROMIUM, DEADLINE_MS, Console, need_chromium, serving

pytestmark = pytest.mark.slow
F = "/api/v1/fleet"
STEP_MS = 1_000   # one look at the page between two heartbeats of the stand-in runner


class StandInRunner:
    """The agent and the instance runner of one instance, played through ``instance_repo`` as they write."""

    def __init__(self, db: Database, instance_id: int) -> None:
        self.db, self.id, self.pid = db, instance_id, os.getpid()
        self.running = False

    def wait_desired(self, wanted: DesiredState) -> None:
        """What the agent polls for: the operator's desired state."""
        end = time.monotonic() + DEADLINE_MS / 1000
        while instances.get_instance(self.db, self.id).desired is not wanted:
            assert time.monotonic() < end, f"desired state never became {wanted}"
            time.sleep(0.1)

    def start(self) -> None:
        instances.transition(self.db, self.id, InstanceState.STARTING, "agent: desired running",
                             actor="agent:stand-in", expect=InstanceState.IDLE, pid=self.pid)
        self.running = True

    def warming(self, progress: WarmupProgress) -> None:
        instances.transition(self.db, self.id, InstanceState.WARMING, "REST warm-up", expect=InstanceState.STARTING)
        self.progress(progress)

    def progress(self, progress: WarmupProgress) -> None:
        instances.heartbeat(self.db, self.id, pid=self.pid, progress=progress)

    def active(self) -> None:
        instances.transition(self.db, self.id, InstanceState.ACTIVE, "warm-up done; klines live",
                             expect=InstanceState.WARMING)
        self.beat()

    def beat(self) -> None:
        if self.running:
            instances.heartbeat(self.db, self.id, pid=self.pid)

    def until(self, check: Callable[[], None]) -> None:
        """``check`` (a Playwright ``expect`` waiting ``STEP_MS``) until it passes, beating between looks as a
        live instance does, so a slow page never sees it go stale."""
        end = time.monotonic() + DEADLINE_MS / 1000
        while True:
            self.beat()
            try:
                check()
                return
            except AssertionError:
                if time.monotonic() > end:
                    raise


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Database, int, int, list[str]]]:
    """A registry with a user, an idle market-data instance on binance and one on binance_us that failed with
    a key in its error (as a careless library might put it); the account's variables hold canaries."""
    canaries = ["canary-" + secrets.token_hex(8), "canary-" + secrets.token_hex(8)]
    monkeypatch.setenv("ANA_BINANCE_KEY", canaries[0])
    monkeypatch.setenv("ANA_BINANCE_SECRET", canaries[1])
    # as `serve` starting with these variables set: the scrubber reads the environment once, and an earlier test
    # of this run may have made it read it already
    refresh_secrets()
    db = Database.open(None, tmp_path)
    registry.add_user(db, "ana")
    host = f"browser-{secrets.token_hex(4)}"
    idle = instances.register_instance(db, "binance", InstanceRole.MARKET_DATA, host,
                                       symbols=["BTC/USDT", "ETH/USDT"], timeframes=["1m", "1h"]).id
    failed = instances.register_instance(db, "binance_us", InstanceRole.MARKET_DATA, host, symbols=["BTC/USDT"],
                                         timeframes=["1m"]).id
    instances.transition(db, failed, InstanceState.STARTING, "agent start", pid=1)
    instances.transition(db, failed, InstanceState.ERROR, "REST refused",
                         error=f"binanceus 401: key {canaries[0]} secret {canaries[1]}")
    try:
        yield db, idle, failed, canaries
    finally:
        db.close()
        monkeypatch.undo()
        refresh_secrets()


@pytest.fixture
def instance_runner(fleet: tuple[Database, int, int, list[str]]) -> StandInRunner:
    """The stand-in for the agent and the instance runner (swap for the real agent when it lands)."""
    db, idle, _, _ = fleet
    return StandInRunner(db, idle)


def _login(page: object, base: str, secret: str) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(f"{base}/login?next=/network")
    page.fill("#token", secret)
    page.click("#login")
    expect(page.locator("#who")).to_contain_text("(", timeout=DEADLINE_MS)


def test_connect_warms_an_instance_up_to_active_live_and_accounts_are_set_up_by_variable_name(
        fleet: tuple[Database, int, int, list[str]], instance_runner: StandInRunner, tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    db, idle, failed, canaries = fleet
    runner = instance_runner
    operator = tokens.create(db, "alice", tokens.Role.OPERATOR, now_ms())
    viewer = tokens.create(db, "eve", tokens.Role.VIEWER, now_ms())
    screens = tmp_path / "screens"
    with serving(create_app(db, tmp_path)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        console = Console()
        page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        console.watch(page)
        _login(page, base, operator)
        assert page.url == f"{base}/network"
        expect(page.locator("header.nav a.active")).to_have_text("Network")

        card = page.locator(f'.card.instance[data-id="{idle}"]')
        state = card.locator(".state .badge")
        expect(state).to_have_text("idle", timeout=DEADLINE_MS)
        expect(state).to_have_class("badge inst-idle")
        expect(card.locator(".symbols")).to_have_text("BTC/USDT, ETH/USDT")
        expect(card.locator(".heartbeat")).to_have_text("—")
        expect(card.locator(".progress")).to_have_text("—")  # never warmed up: no bar
        assert page.locator("#exchange-binance .instances").locator(f'[data-id="{idle}"]').count() == 1
        broken = page.locator(f'.card.instance[data-id="{failed}"]')
        expect(broken.locator(".state .badge")).to_have_text("error", timeout=DEADLINE_MS)
        expect(broken.locator(".state .badge")).to_have_class("badge inst-error")
        expect(broken.locator(".last-error")).to_have_text("binanceus 401: key *** secret ***")
        page.screenshot(path=screens / "network-idle.png", full_page=True)

        # Connect: the operator's wish reaches the database; the agent (played here) acts on it
        card.locator("button.connect").click()
        runner.wait_desired(DesiredState.RUNNING)
        expect(card.locator(".desired")).to_have_text("running", timeout=DEADLINE_MS)
        expect(card.locator("button.connect")).to_be_disabled()
        runner.start()
        runner.until(lambda: expect(state).to_have_text("starting", timeout=STEP_MS))
        expect(state).to_have_class("badge inst-starting")
        runner.warming(WarmupProgress(0, 4, 0, 4000))
        row = page.locator(f'#warmup .warmup-row[data-id="{idle}"]')
        runner.until(lambda: expect(row.locator(".progress-text")).to_have_text(
            "symbols 0/4 · candles 0/4000 (0%)", timeout=STEP_MS))
        expect(state).to_have_text("warming")
        expect(state).to_have_class("badge inst-warming")
        bars = [row.locator("progress"), card.locator(".progress progress")]
        assert [b.evaluate("p => p.value") for b in bars] == [0, 0]
        page.screenshot(path=screens / "network-warming-0.png", full_page=True)
        for done, pct in ((1, 25), (3, 75)):
            runner.progress(WarmupProgress(done, 4, done * 1000, 4000))
            runner.until(lambda d=done, p=pct: expect(row.locator(".progress-text")).to_have_text(
                f"symbols {d}/4 · candles {d * 1000}/4000 ({p}%)", timeout=STEP_MS))
            assert [b.evaluate("p => p.value") for b in bars] == [done / 4, done / 4]  # the bar moved
        expect(card.locator(".heartbeat")).to_have_text("0 s ago")
        page.screenshot(path=screens / "network-warming-75.png", full_page=True)
        runner.active()
        runner.until(lambda: expect(state).to_have_text("active", timeout=STEP_MS))
        expect(state).to_have_class("badge inst-active")
        expect(page.locator("#warmup")).to_have_text("No instance is warming up.")
        feed = page.locator("#activity div")
        expect(feed.first).to_contain_text("warming → active  warm-up done; klines live", timeout=DEADLINE_MS)
        expect(page.locator("#activity")).to_contain_text("desired running  Connect on the Network page (api:alice)")
        expect(page.locator("#activity")).to_contain_text("idle → starting  agent: desired running (agent:stand-in)")
        page.screenshot(path=screens / "network-active.png", full_page=True)

        # Stop: desired stopped in the database
        card.locator("button.stop").click()
        runner.wait_desired(DesiredState.STOPPED)
        expect(card.locator("button.connect")).to_be_enabled(timeout=DEADLINE_MS)

        # the setup form: an account by variable names; a bad name is refused on the page and stored nowhere
        page.fill("#account-user", "ana")
        page.select_option("#account-exchange", "binance")
        page.fill("#account-name", "ana main")
        page.fill("#account-key-env", "ANA_BINANCE_KEY")
        page.fill("#account-secret-env", "ANA_BINANCE_SECRET")
        page.check("#account-default")
        page.click("#account-save")
        expect(page.locator("#account-result")).to_have_text(re.compile(r"^saved account #\d+ \(ana on binance: "
                                                                        r"ana main\)$"), timeout=DEADLINE_MS)
        expect(page.locator("#accounts")).to_contain_text("ANA_BINANCE_SECRET", timeout=DEADLINE_MS)
        (made,) = registry.list_accounts(db)
        assert (made.user, made.exchange, made.display_name, made.api_key_env, made.api_secret_env,
                made.is_active, made.is_default) == ("ana", "binance", "ana main", "ANA_BINANCE_KEY",
                                                     "ANA_BINANCE_SECRET", True, True)
        before = len(console.errors)
        page.fill("#account-user", "ana")
        page.fill("#account-name", "ana second")
        page.fill("#account-key-env", "ana key")
        page.click("#account-save")
        expect(page.locator("#account-error")).to_contain_text(
            "422: api_key_env is not an environment variable name", timeout=DEADLINE_MS)
        assert len(registry.list_accounts(db)) == 1
        # the browser reports the refused request itself ("the server responded with a status of 422")
        assert all("422" in e for e in console.errors[before:])
        del console.errors[before:]
        page.screenshot(path=screens / "network-accounts.png", full_page=True)

        # no canary in the page or in any answer the page reads
        answers = [page.request.get(base + path) for path in (
            f"{F}/exchanges", f"{F}/instances", f"{F}/events?limit=1000", f"{F}/harness", f"{F}/accounts",
            f"{F}/users", f"{F}/instances/{failed}")]
        seen = page.content() + "".join(a.text() for a in answers)
        assert all(a.status == 200 for a in answers)
        assert not [c for c in [*canaries, operator] if c in seen]
        assert console.errors == []

        # a viewer: the same cards, no Connect, Stop or form, and a write made anyway is refused
        vpage = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        vconsole = Console()
        vconsole.watch(vpage)
        _login(vpage, base, viewer)
        vcard = vpage.locator(f'.card.instance[data-id="{idle}"]')
        expect(vcard.locator(".state .badge")).to_have_text("active", timeout=DEADLINE_MS)
        expect(vpage.locator("#accounts")).to_contain_text("ANA_BINANCE_KEY", timeout=DEADLINE_MS)
        assert vpage.locator("button.connect, button.stop, button.edit").count() == 0
        expect(vpage.locator("#account-form")).to_be_hidden()
        csrf = next(c["value"] for c in vpage.context.cookies() if c["name"] == "tw_csrf")
        refused = vpage.request.post(f"{base}{F}/instances/{idle}/connect", data={},
                                     headers={"X-CSRF-Token": csrf})
        assert refused.status == 403
        assert instances.get_instance(db, idle).desired is DesiredState.STOPPED
        vpage.screenshot(path=screens / "network-viewer.png", full_page=True)
        assert not [c for c in [*canaries, viewer] if c in vpage.content()]
        assert vconsole.errors == []
        browser.close()
    assert sorted(p.name for p in screens.iterdir()) == [
        "network-accounts.png", "network-active.png", "network-idle.png", "network-viewer.png",
        "network-warming-0.png", "network-warming-75.png"]



FLEET_WORKS = Path(__file__).resolve().parents[1] / "fleet"


def test_connect_starts_the_real_agent_s_instance_process_which_comes_back_after_a_kill(
        fleet: tuple[Database, int, int, list[str]], tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    db, idle, _, canaries = fleet
    host = instances.get_instance(db, idle).host
    operator = tokens.create(db, "alice", tokens.Role.OPERATOR, now_ms())
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWARDEN_") and v not in canaries}
    env |= {"TRADEWARDEN_DATA_DIR": str(tmp_path), "TRADEWARDEN_FLEET__HEARTBEAT_S": "0.2",
            "TRADEWARDEN_FLEET__AGENT_POLL_S": "0.2", "TRADEWARDEN_FLEET__RESTART_BACKOFF_S": "0.2",
            "TRADEWARDEN_FLEET__LEASE_TTL_S": "2", "TRADEWARDEN_FLEET__STALE_S": "2",
            "PYTHONPATH": os.pathsep.join([str(FLEET_WORKS), os.environ.get("PYTHONPATH", "")])}
    screens = tmp_path / "screens"
    agent_log = (tmp_path / "agent.log").open("wb")
    agent = subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main", "agent", "--host", host, "--work",
                              "instance_works:gated_work"], env=env, stdout=agent_log, stderr=subprocess.STDOUT)
    try:
        # the page judges lost by the same staleness as the agent (fleet.stale_s, as `serve` passes it)
        with serving(create_app(db, tmp_path, fleet_stale_ms=2_000)) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            console = Console()
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            console.watch(page)
            _login(page, base, operator)
            card = page.locator(f'.card.instance[data-id="{idle}"]')
            state = card.locator(".state .badge")
            expect(state).to_have_text("idle", timeout=DEADLINE_MS)

            # Connect: the agent starts the instance process, which holds its warm-up at 0 % (the gate)
            card.locator("button.connect").click()
            expect(state).to_have_text(re.compile("^(starting|warming)$"), timeout=DEADLINE_MS)
            expect(state).to_have_text("warming", timeout=DEADLINE_MS)
            row = page.locator(f'#warmup .warmup-row[data-id="{idle}"]')
            expect(row.locator(".progress-text")).to_have_text("symbols 0/2 · candles 0/400 (0%)",
                                                               timeout=DEADLINE_MS)
            first = instances.get_instance(db, idle)
            assert first.pid is not None and first.pid != agent.pid and agent.poll() is None
            page.screenshot(path=screens / "real-warming.png", full_page=True)
            (tmp_path / "warmup-gate").touch()
            expect(state).to_have_text("active", timeout=DEADLINE_MS)
            expect(state).to_have_class("badge inst-active")
            activity = page.locator("#activity")
            expect(activity).to_contain_text(f"idle → starting  started by agent@{host}", timeout=DEADLINE_MS)
            expect(activity).to_contain_text("warming → active  4 series warm", timeout=DEADLINE_MS)

            # SIGKILL while the agent is paused: the heartbeat goes stale and the card shows lost
            os.kill(agent.pid, signal.SIGSTOP)
            os.kill(first.pid, signal.SIGKILL)
            expect(state).to_have_text("lost", timeout=DEADLINE_MS)
            page.screenshot(path=screens / "real-lost.png", full_page=True)
            os.kill(agent.pid, signal.SIGCONT)
            # the agent restarts it; the new process takes it over and (the gate open) warms straight through
            expect(activity).to_contain_text(f"pid {first.pid} was killed by SIGKILL", timeout=DEADLINE_MS)
            expect(state).to_have_text("active", timeout=DEADLINE_MS)
            again = instances.get_instance(db, idle)
            assert again.pid not in (None, first.pid)
            expect(activity).to_contain_text(f"taken over from pid {first.pid}", timeout=DEADLINE_MS)
            page.screenshot(path=screens / "real-active-again.png", full_page=True)

            # Stop: the agent stops it
            card.locator("button.stop").click()
            expect(state).to_have_text("stopped", timeout=DEADLINE_MS)
            assert not [c for c in canaries if c in page.content()]
            assert console.errors == []
            browser.close()
    finally:
        if agent.poll() is None:
            os.kill(agent.pid, signal.SIGCONT)
            agent.terminate()
            agent.wait(timeout=DEADLINE_MS / 1000)
        agent_log.close()
        for row in instances.list_instances(db):
            if row.pid is not None and row.state.is_running and row.pid != 1:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(row.pid, signal.SIGKILL)
    assert agent.returncode == 0, (tmp_path / "agent.log").read_text()
