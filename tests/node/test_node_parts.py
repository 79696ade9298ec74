"""The node's components with fakes: reconciler, watchers, order follower, state keeper, reporter, boot,
builder. No exchange; the state keeper on a SQLite file under tmp_path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from tests.conftest import MemoryEvents

from tradewarden.config import load_config
from tradewarden.data.retry import RetryPolicy
from tradewarden.domain.candles import Candle
from tradewarden.domain.events import EventType
from tradewarden.domain.instrument import Instrument
from tradewarden.engine.engine import Engine, EngineSettings
from tradewarden.node import builder
from tradewarden.node.boot import Boot, BootRefused
from tradewarden.node.options import RunOptions
from tradewarden.node.reconciler import Reconciler
from tradewarden.node.reporter import Reporter
from tradewarden.node.runner import StrategyRunner
from tradewarden.node.state import StateKeeper
from tradewarden.node.watchers import KillSwitchPoll, KillSwitchWatcher, LeaseWatcher, OrderFollower
from tradewarden.persistence import Database
from tradewarden.persistence.runtime_store import RuntimeStore
from tradewarden.risk import TradingState
from tradewarden.strategies import load_strategy
from tradewarden.venues.exchange import ExchangeVenue
from tradewarden.venues.exchange_state import ExchangeView
from tradewarden.venues.params import FillSettings
from tradewarden.venues.reconcile import RECURRENCE_WINDOW
from tradewarden.venues.shadow import ShadowVenue
from tradewarden.venues.simulated import SimulatedVenue

BTC = Instrument.default_spot("BTC/USDT")
CASH = Decimal(10_000)


def clock() -> int:
    return 1_700_000_000_000


class Halts:
    """The risk book as the reconciler and the lease watcher see it: the states they set."""

    def __init__(self) -> None:
        self.states: list[tuple[str, TradingState, str]] = []

    def set_manual_state(self, ts: int, scope: str, state: TradingState, reason: str) -> None:
        self.states.append((scope, state, reason))


class NoAudit:
    def operator_action(self, ts: int, action: str, actor: str, **detail: object) -> None:
        raise AssertionError("no operator action expected")


class RiskFake(Halts):
    """What a runner's step asks of the risk manager."""

    def writes_held(self) -> object:
        import contextlib

        return contextlib.nullcontext()

    def on_feed_health(self, ts: int, healthy: bool) -> None: ...

    def check(self, order: object, context: object) -> object:
        raise AssertionError("no order expected")


def runner(events: MemoryEvents) -> StrategyRunner:
    venue = SimulatedVenue(BTC, FillSettings(), CASH)
    engine = Engine(load_strategy("sma_cross", {"fast": 5, "slow": 20}), BTC, venue, events, EngineSettings(), CASH,
                    "1h", keep_history=False)
    return StrategyRunner(engine, venue, RiskFake())  # type: ignore[arg-type]  # a fake of RiskManager


def candles(n: int, start: int = 0) -> list[Candle]:
    return [Candle(ts=(start + i) * 3_600_000, open=100.0, high=101.0, low=99.0, close=100.0 + i % 3, volume=5.0)
            for i in range(n)]


def view(base: str) -> ExchangeView:
    """The exchange's view: no open orders, ``base`` BTC (the bot holds none) and the cash."""
    return ExchangeView(open_orders=[], balances={"BTC": Decimal(base), "USDT": CASH}, fills=[])


def reconciler(risk: Halts, events: MemoryEvents, seen: Callable[[str], ExchangeView]) -> Reconciler:
    return Reconciler(seen, lambda symbol: Decimal(100), risk, NoAudit(), events, clock, adopt=False,
                      say=lambda line: None)


# -- reconciler -----------------------------------------------------------------------------------------
def test_the_reconcilers_debounce_survives_snapshot_and_restore(events: MemoryEvents) -> None:
    """A difference seen once is suspect; seen again after the node restarted (snapshot, restore) it halts."""
    run = runner(events)
    first, risk = reconciler(Halts(), events, lambda s: view("0.5")), Halts()
    first.periodic(run)
    assert events.of(EventType.RECONCILE_SUSPECT) and not events.of(EventType.HALTED_OPS)
    state = json.loads(json.dumps(first.snapshot()))  # as the resume snapshot stores it

    forgetful = reconciler(risk, events, lambda s: view("0.5"))
    forgetful.periodic(run)  # without the memory the same difference is only suspect again
    assert risk.states == []

    second = reconciler(risk, events, lambda s: view("0.5"))
    second.restore(state)
    second.periodic(run)
    assert [s for _, s, _ in risk.states] == [TradingState.HALTED]
    assert [h["reason"] for h in events.of(EventType.HALTED_OPS)] == ["RECONCILE_MISMATCH"]


def test_the_reconcilers_memory_spans_the_recurrence_window(events: MemoryEvents) -> None:
    """A difference back after one clean reconciliation halts (a second bot shows at every other one); back
    only after RECURRENCE_WINDOW - 1 clean ones it is suspect again."""
    def halts_after(answers: list[str]) -> bool:
        risk, seen = Halts(), iter(answers)
        rec = reconciler(risk, events, lambda s: view(next(seen)))
        run = runner(events)
        for _ in answers:
            rec.periodic(run)
        return bool(risk.states)

    assert halts_after(["0.5", "0", "0.5"]) is True
    assert halts_after(["0.5"] + ["0"] * (RECURRENCE_WINDOW - 1) + ["0.5"]) is False


def symbol_runner(events: MemoryEvents, symbol: str) -> StrategyRunner:
    inst = Instrument.default_spot(symbol)
    venue = SimulatedVenue(inst, FillSettings(), CASH)
    engine = Engine(load_strategy("sma_cross", {"fast": 5, "slow": 20}), inst, venue, events, EngineSettings(),
                    CASH, "1h", keep_history=False)
    return StrategyRunner(engine, venue, RiskFake())  # type: ignore[arg-type]  # a fake of RiskManager


def test_a_difference_on_one_of_three_symbols_halts_after_the_debounce(events: MemoryEvents) -> None:
    """The periodic reconciliation runs symbol after symbol: the others' clean ones do not push the first
    sighting of one symbol's difference out of the debounce window (one memory per symbol)."""
    runners = [symbol_runner(events, s) for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT")]

    def seen(symbol: str) -> ExchangeView:  # 0.5 ETH the bot does not hold; the other symbols agree
        base = symbol.split("/")[0]
        return ExchangeView(open_orders=[], balances={base: Decimal("0.5" if base == "ETH" else "0"),
                                                      "USDT": CASH}, fills=[])

    risk = Halts()
    rec = reconciler(risk, events, seen)
    for run in runners:
        rec.periodic(run)
    assert risk.states == [] and events.of(EventType.RECONCILE_SUSPECT)
    for run in runners:
        rec.periodic(run)
    assert [s for _, s, _ in risk.states] == [TradingState.HALTED]
    (mismatch,) = events.of(EventType.RECONCILE_MISMATCH)
    assert [(m["kind"], m["subject"]) for m in mismatch["mismatches"]] == [("BALANCE_MISMATCH", "ETH")]
    # the snapshot keeps each symbol's memory: a restored reconciler confirms on the first sighting
    again, halts = reconciler(Halts(), events, seen), Halts()
    again.risk = halts
    again.restore(json.loads(json.dumps(rec.snapshot())))
    again.periodic(runners[1])
    assert [s for _, s, _ in halts.states] == [TradingState.HALTED]


def test_the_boot_reconciliation_of_every_symbol_keeps_every_symbols_earlier_orders(
        events: MemoryEvents) -> None:
    """Orders already on the exchange at boot are an earlier run's, for every symbol the boot reconciled,
    not only the last one's: the periodic reconciliation reports none of them as another writer's."""
    from tradewarden.venues.reconcile import OpenOrderView

    def seen(symbol: str) -> ExchangeView:
        earlier = OpenOrderView(f"tw-old-{symbol[:3]}", symbol, "buy", Decimal("0.01"), Decimal("0.01"),
                                exchange_id=f"x-{symbol[:3]}")
        return ExchangeView(open_orders=[], balances={"USDT": CASH}, fills=[], recent_orders=[earlier])

    runners = [symbol_runner(events, s) for s in ("BTC/USDT", "ETH/USDT")]
    risk = Halts()
    rec = reconciler(risk, events, seen)
    for run in runners:
        rec.at_boot(run, False)
    for _ in range(RECURRENCE_WINDOW):
        for run in runners:
            rec.periodic(run)
    assert not events.of(EventType.FOREIGN_WRITER)
    assert risk.states == []


def test_an_unreachable_exchange_skips_the_reconciliation(events: MemoryEvents) -> None:
    def down(symbol: str) -> ExchangeView:
        raise OSError("connection refused")

    risk = Halts()
    reconciler(risk, events, down).periodic(runner(events))
    assert [e["error"] for e in events.of(EventType.RECONCILE_SKIPPED)] == ["connection refused"]
    assert risk.states == []


def test_the_boot_reconciliation_of_a_fresh_bot_takes_the_exchanges_cash(events: MemoryEvents) -> None:
    run = runner(events)
    seen = ExchangeView(open_orders=[], balances={"BTC": Decimal(0), "USDT": Decimal("1234.5")}, fills=[])
    risk = Halts()
    reconciler(risk, events, lambda s: seen).at_boot(run, resumed=False)
    assert run.engine.cash_atoms == BTC.to_atoms(Decimal("1234.5"))
    assert len(events.of(EventType.RECONCILE_OK)) == 1 and risk.states == []


# -- watchers ---------------------------------------------------------------------------------------------
class SwitchBook:
    def __init__(self, on: bool) -> None:
        self.on = on
        self.polls = 0

    def poll(self, now: int) -> bool:
        self.polls += 1
        return self.on


def test_the_kill_switch_watcher_hands_one_plan_to_the_worker_at_a_time() -> None:
    """While the worker is busy (a held create) the switch is polled again; one plan waits, not two."""
    carried: list[str] = []

    async def main() -> tuple[int, int]:
        gate = asyncio.Event()

        async def on_worker(fn: Callable[[], None]) -> None:
            await gate.wait()  # the worker is held
            fn()

        watcher = KillSwitchWatcher(SwitchBook(True), lambda: carried.append("plan"), on_worker, clock, 60)
        await watcher.check()
        await watcher.check()
        planned = watcher.plans
        gate.set()
        await watcher.stop()  # waits for the plan
        await watcher.check()  # the switch is still on: a new plan once the last one ran
        await watcher.stop()
        return planned, watcher.plans

    assert asyncio.run(main()) == (1, 2)
    assert carried == ["plan", "plan"]


def test_the_kill_switch_watcher_plans_nothing_while_the_switch_is_off() -> None:
    async def main() -> int:
        async def on_worker(fn: Callable[[], None]) -> None:
            fn()

        book = SwitchBook(False)
        watcher = KillSwitchWatcher(book, lambda: pytest.fail("no plan"), on_worker, clock, 60)
        await watcher.check()
        return book.polls + watcher.plans

    assert asyncio.run(main()) == 1


def test_the_lease_watcher_halts_and_stops_once_the_lease_is_lost(events: MemoryEvents) -> None:
    lost: list[str | None] = [None]
    stops: list[str] = []
    risk = Halts()
    watcher = LeaseWatcher(lambda: lost[0], risk, events, clock, stops.append, 60, say=lambda line: None)
    assert watcher.check() is False and stops == []
    lost[0] = "taken over by host-b"
    assert watcher.check() is True
    assert stops == ["account lease lost"] and watcher.lost_reason == "taken over by host-b"
    assert [s for _, s, _ in risk.states] == [TradingState.HALTED]
    assert [e["message"] for e in events.of(EventType.LEASE_LOST)] == ["taken over by host-b"]


def test_the_order_follower_polls_only_while_orders_are_open() -> None:
    open_orders = [False]
    polls: list[int] = []

    async def main() -> None:
        async def on_worker(fn: Callable[[], None]) -> None:
            fn()

        follower = OrderFollower(lambda: open_orders[0], lambda: None, lambda: polls.append(1), on_worker, 2.0)
        await follower.follow_once()
        open_orders[0] = True
        await follower.follow_once()

    asyncio.run(main())
    assert polls == [1]


def test_the_order_follower_waits_less_when_a_lost_create_can_be_looked_up() -> None:
    async def on_worker(fn: Callable[[], None]) -> None:
        fn()

    recheck: list[float | None] = [None]
    follower = OrderFollower(lambda: True, lambda: recheck[0], lambda: None, on_worker, 2.0)
    assert follower.wait_s() == 2.0
    recheck[0] = 0.25
    assert follower.wait_s() == 0.25


# -- state keeper ------------------------------------------------------------------------------------------
def test_the_state_keeper_resumes_what_it_persisted(tmp_path: Path, events: MemoryEvents) -> None:
    db = Database.open(None, tmp_path / "data")
    try:
        run = runner(events)
        keeper = StateKeeper(RuntimeStore(db, "paper:sim:BTC/USDT:sma"), events, clock, live=False,
                             fresh_after_clean_stop=False, say=lambda line: None)
        rec = reconciler(Halts(), events, lambda s: view("0.5"))
        keeper.register("reconciler", rec)
        rec.periodic(run)  # a suspect difference in the reconciler's memory
        run.engine.warm_up(candles(30))
        for c in candles(5, start=30):
            run.step(c, True)
            keeper.candles_seen += 1
            keeper.started_ts = keeper.started_ts or c.ts
            keeper.persist(run, c.ts)

        again = runner(events)
        other = reconciler(Halts(), events, lambda s: view("0.5"))
        fresh = StateKeeper(RuntimeStore(db, "paper:sim:BTC/USDT:sma"), events, clock, live=False,
                            fresh_after_clean_stop=False, say=lambda line: None)
        fresh.register("reconciler", other)
        assert fresh.resume(again) is True
        assert again.engine.last_ts == run.engine.last_ts == 34 * 3_600_000
        assert again.engine.cash_atoms == run.engine.cash_atoms
        assert fresh.started_ts == 30 * 3_600_000 and fresh.candles_seen == 5
        assert fresh.resumed_after == run.engine.last_ts
        assert other.memory == rec.memory and other.memory["BTC/USDT"].recent
        (resumed,) = events.of(EventType.SESSION_RESUMED)
        assert resumed["after_crash"] is True  # never finished: the previous process died (the notifier tells)
    finally:
        db.close()


def test_an_account_carried_over_after_a_clean_stop_is_no_crash(tmp_path: Path, events: MemoryEvents) -> None:
    db = Database.open(None, tmp_path / "data")
    try:
        run = runner(events)
        keeper = StateKeeper(RuntimeStore(db, "acct"), events, clock, live=False, fresh_after_clean_stop=False,
                             say=lambda line: None)
        run.engine.warm_up(candles(30))
        run.step(candles(1, start=30)[0], True)
        keeper.finish(run)
        again = StateKeeper(RuntimeStore(db, "acct"), events, clock, live=False, fresh_after_clean_stop=False,
                            say=lambda line: None)
        assert again.resume(runner(events)) is True
        (resumed,) = events.of(EventType.SESSION_RESUMED)
        assert resumed["after_crash"] is False
    finally:
        db.close()


def test_a_clean_stop_on_the_built_in_simulator_starts_the_account_afresh(tmp_path: Path,
                                                                           events: MemoryEvents) -> None:
    db = Database.open(None, tmp_path / "data")
    try:
        run = runner(events)
        keeper = StateKeeper(RuntimeStore(db, "acct"), events, clock, live=False, fresh_after_clean_stop=True,
                             say=lambda line: None)
        run.engine.warm_up(candles(30))
        run.step(candles(1, start=30)[0], True)
        keeper.finish(run)
        assert StateKeeper(RuntimeStore(db, "acct"), events, clock, live=False, fresh_after_clean_stop=True,
                           say=lambda line: None).resume(runner(events)) is False
        assert RuntimeStore(db, "acct").snapshot("session") is None
    finally:
        db.close()


# -- reporter ----------------------------------------------------------------------------------------------
def test_the_reporter_writes_the_reports_and_run_finished(tmp_path: Path, events: MemoryEvents) -> None:
    run = runner(events)
    run.engine.warm_up(candles(30))
    for c in candles(10, start=30):
        run.step(c, True)
    metrics = Reporter(tmp_path, "paper", "abc", "1h", events, clock).finish(run, 10, "market data ended",
                                                                                    12.34)
    assert {p.name for p in tmp_path.iterdir()} >= {"summary.json", "summary.html", "trades.csv", "equity.csv"}
    (finished,) = events.of(EventType.RUN_FINISHED)
    assert finished["candles"] == 10 and finished["reason"] == "market data ended"
    assert finished["loop_stall_max_ms"] == 12.3 and metrics["loop_stall_max_ms"] == 12.3
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["run"]["symbol"] == "BTC/USDT" and summary["run"]["candles"] == 10


def test_the_reporter_before_the_first_candle_writes_an_empty_trade_list(tmp_path: Path,
                                                                         events: MemoryEvents) -> None:
    metrics = Reporter(tmp_path, "paper", "abc", "1h", events, clock).finish(runner(events), 0, "signal", 0)
    assert (tmp_path / "trades.csv").exists() and not (tmp_path / "summary.json").exists()
    assert events.of(EventType.RUN_FINISHED)[0]["final_equity"] is None and "final_equity" not in metrics


# -- boot --------------------------------------------------------------------------------------------------
def test_the_boot_refuses_live_without_an_exchange(tmp_path: Path, events: MemoryEvents) -> None:
    cfg = load_config(None, {}, env={})
    boot = Boot(cfg, RunOptions(mode="live", env={}), "hash", tmp_path, events, clock, say=lambda line: None)
    with pytest.raises(BootRefused) as refused:
        boot.check_gate()
    assert refused.value.reason == "NO_EXCHANGE"
    assert [e["reason"] for e in events.of(EventType.LIVE_ARM_FAILED)] == ["NO_EXCHANGE"]


def test_the_boot_refuses_a_second_bot_on_the_account(tmp_path: Path, events: MemoryEvents) -> None:
    cfg = load_config(None, {"data_dir": str(tmp_path / "data")}, env={})
    opts = RunOptions(mode="paper", env={})
    first = Boot(cfg, opts, "hash", tmp_path / "a", events, clock, say=lambda line: None)
    second = Boot(cfg, opts, "hash", tmp_path / "b", events, clock, say=lambda line: None)
    with first.account_lock(), pytest.raises(BootRefused) as refused, second.account_lock():
        pytest.fail("two bots on one account")
    assert refused.value.reason == "ACCOUNT_LOCKED"
    (event,) = events.of(EventType.INSTANCE_REFUSED)
    assert event["holder"] is not None and "lock" in event


# -- builder -----------------------------------------------------------------------------------------------
class Markets:
    """The one call the live venue's construction makes."""

    def load_markets(self) -> dict[str, object]:
        return {}


@pytest.mark.parametrize("mode", ["paper", "shadow", "live"])
def test_the_builder_wires_the_venue_and_protection_of_the_mode(mode: str, events: MemoryEvents) -> None:
    cfg = load_config(None, {}, env={})
    rest = Markets()
    run = asyncio.run(builder.build_runner(cfg, mode, load_strategy("sma_cross", {}), BTC,
                                           RiskFake(), rest, RetryPolicy(), events, clock))  # type: ignore[arg-type]
    assert run.symbol == "BTC/USDT"
    assert (run.exchange is not None) is (mode == "live")
    assert (run.protection is not None) is (mode == "live")
    assert type(run.venue) is {"paper": SimulatedVenue, "shadow": ShadowVenue, "live": ExchangeVenue}[mode]


class SwitchRisk:
    """The kill switch as the risk manager keeps it: on or off, acknowledgements recorded."""

    def __init__(self, on: bool, calls: list[str]) -> None:
        import threading

        self.lock = threading.RLock()
        self.on, self.calls = on, calls

    def poll_kill_switch(self, ts: int) -> bool:
        self.calls.append("poll")
        return self.on

    def acknowledge_kill_switch(self, ts: int, bot: str) -> bool:
        self.calls.append(f"ack {bot}")
        return True


class CopyingAudit:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def copy_operator_actions(self, ts: int) -> int:
        self.calls.append("copy")
        return 0


@pytest.mark.parametrize("on", [True, False])
def test_the_kill_switch_poll_copies_operator_actions_then_acknowledges_a_switch_that_is_on(on: bool) -> None:
    calls: list[str] = []
    poll = KillSwitchPoll(SwitchRisk(on, calls), CopyingAudit(calls), "bot-1", clock)  # type: ignore[arg-type]
    assert poll.poll(clock()) is on
    assert calls == (["copy", "poll", "ack bot-1"] if on else ["copy", "poll"])


class JobsFake:
    """The session scheduler as :func:`builder.schedule` sees it: the periodic jobs it declares."""

    def __init__(self) -> None:
        self.jobs: dict[str, Callable[[], None]] = {}

    def every(self, name: str, seconds: float, fn: Callable[[], None]) -> None:
        self.jobs[name] = fn

    def daily_at(self, name: str, at: str, fn: Callable[[], None]) -> None:
        self.jobs[name] = fn

    def watch_file(self, name: str, path: Path, fn: Callable[[Path], None]) -> None: ...


def test_a_periodic_job_waits_once_while_the_worker_is_busy_instead_of_piling_up() -> None:
    """The reconciliation fires every second; while the worker has not run the last one (busy with slower
    calls), further firings are not queued ahead of the candle steps. Once it ran, the next one queues again."""
    cfg = load_config(None, {"runtime.reconcile_every_s": "1"})
    reconciled: list[int] = []
    queued: list[Callable[[], None]] = []
    loop = asyncio.new_event_loop()
    try:
        jobs = JobsFake()
        builder.schedule(jobs, cfg, "live", queued.append, loop, lambda: None,  # type: ignore[arg-type]
                         lambda: reconciled.append(1), lambda path: None)
        fire = jobs.jobs["reconcile"]
        for _ in range(5):  # the scheduler's thread fires while the worker is busy
            fire()
        loop.run_until_complete(asyncio.sleep(0))  # the loop hands the jobs over
        assert len(queued) == 1
        queued.pop()()  # the worker runs it
        assert reconciled == [1]
        fire()
        loop.run_until_complete(asyncio.sleep(0))
        assert len(queued) == 1
    finally:
        loop.close()
