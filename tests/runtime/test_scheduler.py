"""SessionScheduler against a real SQLite job store: overlap, coalescing, misfire grace, restarts, daily times,
file watching. Waits are on events with generous timeouts; nothing asserts how fast anything is."""

import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from tradewarden.runtime.scheduler import (
    JobNotRegisteredError,
    JobOutcome,
    SchedulerError,
    SessionScheduler,
    next_daily_run,
    parse_hhmm,
    register,
    run_registered,
    table_name,
    unregister,
)

WAIT = 15.0  # seconds: only ever reached when something is broken


class Outcomes:
    """Collects a scheduler's outcomes and lets a test wait for a condition on them."""

    def __init__(self) -> None:
        self.items: list[JobOutcome] = []
        self._cond = threading.Condition()

    def __call__(self, outcome: JobOutcome) -> None:
        with self._cond:
            self.items.append(outcome)
            self._cond.notify_all()

    def of(self, job_id: str, kind: str | None = None) -> list[JobOutcome]:
        with self._cond:
            return [o for o in self.items if o.job_id == job_id and (kind is None or o.kind == kind)]

    def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        with self._cond:
            assert self._cond.wait_for(predicate, timeout=WAIT), f"timed out waiting for {what}: {self.items}"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def schedulers() -> Iterator[list[SessionScheduler]]:
    made: list[SessionScheduler] = []
    yield made
    for s in made:
        s.shutdown(wait=False)


def _new(made: list[SessionScheduler], db_url: str, scope: str = "binance-test", **kw: object) -> SessionScheduler:
    s = SessionScheduler(db_url, scope, **kw)  # type: ignore[arg-type]
    made.append(s)
    return s


def test_a_slow_job_is_never_started_twice(db_url: str, schedulers: list[SessionScheduler]) -> None:
    s = _new(schedulers, db_url)
    outcomes = Outcomes()
    s.on_outcome(outcomes)
    release = threading.Event()
    lock = threading.Lock()
    running = 0
    most = 0

    def slow() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(WAIT)
        with lock:
            running -= 1

    s.every("slow", 0.1, slow)
    s.start()
    outcomes.wait_for(lambda: len(outcomes.of("slow", "overlap")) >= 2, "overlapping runs to be skipped")
    release.set()
    outcomes.wait_for(lambda: bool(outcomes.of("slow", "ran")), "the slow run to finish")
    s.shutdown()
    assert most == 1


def test_runs_missed_while_stopped_collapse_into_one(db_url: str, schedulers: list[SessionScheduler]) -> None:
    first = _new(schedulers, db_url)
    ran_once = threading.Event()
    first.every("tick", 0.3, ran_once.set)
    first.start()
    assert ran_once.wait(WAIT)
    first.shutdown()
    stopped_at = datetime.now(UTC)
    pause = threading.Event()
    pause.wait(1.6)  # the bot is down for about five intervals

    second = _new(schedulers, db_url)
    outcomes = Outcomes()
    second.on_outcome(outcomes)
    second.every("tick", 0.3, lambda: None)
    restarted_at = datetime.now(UTC)
    second.start()
    outcomes.wait_for(lambda: any(o.scheduled and o.scheduled > restarted_at for o in outcomes.of("tick", "ran")),
                      "a run after the restart")
    second.shutdown()
    catch_up = [o for o in outcomes.of("tick") if o.scheduled and o.scheduled <= restarted_at]
    assert len(catch_up) == 1, catch_up
    assert catch_up[0].kind == "ran"
    # the one run stands for the latest missed time, not the first one after the stop
    assert catch_up[0].scheduled is not None and catch_up[0].scheduled > stopped_at + timedelta(seconds=0.9)


def _past_clock(seconds: float) -> Callable[[], datetime]:
    """A clock behind the real one: the job's persisted first run times lie in the past, as after a downtime."""
    at = datetime.now(UTC) - timedelta(seconds=seconds)
    return lambda: at


def test_a_run_later_than_the_grace_is_skipped(db_url: str, schedulers: list[SessionScheduler]) -> None:
    s = _new(schedulers, db_url, clock=_past_clock(100), misfire_grace_seconds=1)
    outcomes = Outcomes()
    s.on_outcome(outcomes)
    calls: list[int] = []
    s.every("recon", 30, lambda: calls.append(1))  # due 70, 40 and 10 s ago
    s.start()
    outcomes.wait_for(lambda: bool(outcomes.of("recon")), "the late run to be judged")
    after = datetime.now(UTC)
    [job] = s.jobs()
    s.shutdown()
    assert [o.kind for o in outcomes.of("recon")] == ["missed"]
    assert calls == []
    assert datetime.fromisoformat(job["next_run"]) > after  # it waits for its next regular time


def test_a_run_within_the_grace_runs_once(db_url: str, schedulers: list[SessionScheduler]) -> None:
    s = _new(schedulers, db_url, clock=_past_clock(100), misfire_grace_seconds=60)
    outcomes = Outcomes()
    s.on_outcome(outcomes)
    s.every("recon", 30, lambda: None)  # due 70, 40 and 10 s ago: the last is inside the grace
    s.start()
    outcomes.wait_for(lambda: bool(outcomes.of("recon")), "the late run")
    s.shutdown()
    [outcome] = outcomes.of("recon")
    assert outcome.kind == "ran"
    assert outcome.scheduled is not None
    assert timedelta(seconds=5) < datetime.now(UTC) - outcome.scheduled < timedelta(seconds=60)


def test_per_job_grace_overrides_the_default(db_url: str, schedulers: list[SessionScheduler]) -> None:
    s = _new(schedulers, db_url, clock=_past_clock(100), misfire_grace_seconds=60)
    outcomes = Outcomes()
    s.on_outcome(outcomes)
    s.every("strict", 30, lambda: None, misfire_grace_seconds=1)
    s.every("lenient", 30, lambda: None)
    s.start()
    outcomes.wait_for(lambda: bool(outcomes.of("strict")) and bool(outcomes.of("lenient")), "both judged")
    s.shutdown()
    assert [o.kind for o in outcomes.of("strict")] == ["missed"]
    assert [o.kind for o in outcomes.of("lenient")] == ["ran"]


def test_the_schedule_survives_a_restart(db_url: str, schedulers: list[SessionScheduler]) -> None:
    first = _new(schedulers, db_url)
    first.every("recon", 300, lambda: None)
    first.daily_at("summary", "00:05", lambda: None)
    first.every("obsolete", 600, lambda: None)
    first.start()
    before = {j["id"]: j for j in first.jobs()}
    first.shutdown()

    later = datetime.now(UTC) + timedelta(seconds=120)  # the new process starts two minutes later
    second = _new(schedulers, db_url, clock=lambda: later)
    second.every("recon", 300, lambda: None)
    second.daily_at("summary", "00:05", lambda: None)
    second.start()
    after = {j["id"]: j for j in second.jobs()}
    second.shutdown()
    assert after["recon"]["next_run"] == before["recon"]["next_run"]  # not later + 300 s
    assert after["summary"]["next_run"] == before["summary"]["next_run"]
    assert "obsolete" not in after  # not declared again: its function is gone


def test_a_changed_schedule_is_rescheduled(db_url: str, schedulers: list[SessionScheduler]) -> None:
    first = _new(schedulers, db_url)
    first.every("recon", 300, lambda: None)
    first.start()
    first.shutdown()
    now = datetime.now(UTC)
    second = _new(schedulers, db_url, clock=lambda: now)
    second.every("recon", 900, lambda: None)
    second.start()
    [job] = second.jobs()
    second.shutdown()
    assert job["trigger"] == "interval[0:15:00]"
    assert datetime.fromisoformat(job["next_run"]) == now + timedelta(seconds=900)


def test_scopes_have_their_own_tables(db_url: str, schedulers: list[SessionScheduler]) -> None:
    a = _new(schedulers, db_url, scope="binance-aaa")
    b = _new(schedulers, db_url, scope="binance-bbb")
    a.every("recon", 300, lambda: None)
    b.every("summary", 300, lambda: None)
    a.start()
    b.start()
    assert [j["id"] for j in a.jobs()] == ["recon"]
    assert [j["id"] for j in b.jobs()] == ["summary"]
    a.shutdown()
    b.shutdown()
    tables = set(inspect(create_engine(db_url)).get_table_names())
    assert {table_name("binance-aaa"), table_name("binance-bbb")} <= tables
    assert table_name("binance-aaa") != table_name("binance-bbb")


def test_table_names_are_safe_identifiers() -> None:
    assert table_name("paper") == "tradewarden_jobs_paper"
    odd = table_name("Binance Main; DROP TABLE x")
    assert odd.startswith("tradewarden_jobs_") and odd.replace("_", "").isalnum() and len(odd) < 63
    assert table_name("a-b") != table_name("a_b")  # changed slugs carry a hash of the real scope


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2024, 3, 1, 23, 50, tzinfo=UTC), datetime(2024, 3, 2, 0, 5, tzinfo=UTC)),
    (datetime(2024, 3, 2, 0, 10, tzinfo=UTC), datetime(2024, 3, 3, 0, 5, tzinfo=UTC)),
    (datetime(2024, 3, 2, 0, 5, tzinfo=UTC), datetime(2024, 3, 2, 0, 5, tzinfo=UTC)),
    # 20:50 in New York winter time is 01:50 UTC: the next 00:05 UTC is the following UTC day
    (datetime(2024, 3, 1, 20, 50, tzinfo=timezone(timedelta(hours=-5))), datetime(2024, 3, 3, 0, 5, tzinfo=UTC)),
    (datetime(2024, 2, 28, 23, 59, tzinfo=UTC), datetime(2024, 2, 29, 0, 5, tzinfo=UTC)),  # leap day
])
def test_daily_at_gives_the_next_utc_time(db_url: str, schedulers: list[SessionScheduler],
                                          now: datetime, expected: datetime) -> None:
    assert next_daily_run("00:05", now) == expected
    s = _new(schedulers, db_url, clock=lambda: now)
    s.daily_at("summary", "00:05", lambda: None)
    [job] = s.jobs()
    assert job["next_run"] == expected.isoformat()
    assert job["kind"] == "daily"


def test_daily_at_next_run_is_stored_at_start(db_url: str, schedulers: list[SessionScheduler]) -> None:
    s = _new(schedulers, db_url)
    s.daily_at("summary", "13:37", lambda: None)
    s.start()
    [job] = s.jobs()
    s.shutdown()
    assert datetime.fromisoformat(job["next_run"]) == next_daily_run("13:37", datetime.now(UTC))


@pytest.mark.parametrize("bad", ["24:00", "7:05", "00:60", "noon", "", "00:05:00"])
def test_bad_daily_times_are_named(db_url: str, bad: str) -> None:
    s = SessionScheduler(db_url, "x")
    with pytest.raises(ValueError, match=r"job 'summary'.*HH:MM"):
        s.daily_at("summary", bad, lambda: None)
    with pytest.raises(ValueError):
        parse_hhmm(bad)
    s.shutdown()


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(ValueError, match="scope"):
        SessionScheduler(url, " ")
    with pytest.raises(ValueError, match="misfire_grace_seconds"):
        SessionScheduler(url, "x", misfire_grace_seconds=0)
    with pytest.raises(SchedulerError, match="not a database URL"):
        SessionScheduler("no such thing", "x")
    s = SessionScheduler(url, "x")
    with pytest.raises(ValueError, match=r"job 'recon'.*more than 0"):
        s.every("recon", 0, lambda: None)
    with pytest.raises(ValueError, match="job id"):
        s.every("bad id!", 5, lambda: None)
    s.shutdown()


def test_an_unusable_job_store_is_reported_without_password(tmp_path: Path) -> None:
    s = SessionScheduler("postgresql://bot:hunter22@127.0.0.1:1/nodb", "x")
    s.every("recon", 300, lambda: None)
    with pytest.raises(SchedulerError, match="tradewarden_jobs_x") as err:
        s.start()
    assert "hunter22" not in str(err.value)
    assert "postgresql+psycopg2" in str(err.value)  # the driver we have, not SQLAlchemy 2.1's psycopg 3 default
    assert not s.running
    s.shutdown()


def test_failures_reach_the_listener_scrubbed(db_url: str, schedulers: list[SessionScheduler],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from tradewarden.observability.scrub import refresh_secrets

    monkeypatch.setenv("TRADEWARDEN_API_SECRET", "canary-Secret-9f8e7d")
    refresh_secrets()
    s = _new(schedulers, db_url)
    outcomes = Outcomes()
    s.on_outcome(outcomes)

    def broken() -> None:
        raise RuntimeError("exchange said no to key canary-Secret-9f8e7d")

    s.every("recon", 0.1, broken)
    s.start()
    outcomes.wait_for(lambda: bool(outcomes.of("recon", "failed")), "a failure")
    s.shutdown()
    monkeypatch.delenv("TRADEWARDEN_API_SECRET")
    refresh_secrets()
    error = outcomes.of("recon", "failed")[0].error
    assert error is not None and "RuntimeError" in error and "recon" in error
    assert "canary-Secret-9f8e7d" not in error


def test_the_trampoline_runs_the_registered_function_and_names_a_missing_one() -> None:
    calls: list[str] = []

    def job() -> None:
        calls.append("ran")

    register("scope-t", "job-t", job)
    run_registered("scope-t", "job-t")
    assert calls == ["ran"]
    unregister("scope-t", "job-t", job)
    with pytest.raises(JobNotRegisteredError, match="'job-t' of scope 'scope-t'"):
        run_registered("scope-t", "job-t")


def test_watch_file_fires_once_per_real_change(tmp_path: Path, db_url: str,
                                               schedulers: list[SessionScheduler]) -> None:
    params = tmp_path / "params.toml"
    params.write_text("fast = 10\n")
    s = _new(schedulers, db_url)
    outcomes = Outcomes()
    s.on_outcome(outcomes)
    changes: list[str] = []
    changed = threading.Event()

    def on_change(path: Path) -> None:
        changes.append(path.read_text())
        changed.set()

    s.watch_file("params", params, on_change, seconds=0.1)
    s.start()

    def polls() -> int:
        return len(outcomes.of("params", "ran"))

    def wait_polls(n: int) -> None:
        target = polls() + n
        outcomes.wait_for(lambda: polls() >= target, f"{n} more polls")

    wait_polls(3)
    assert changes == []
    tmp = tmp_path / "params.toml.new"
    tmp.write_text("fast = 12\n")
    os.replace(tmp, params)
    assert changed.wait(WAIT)
    wait_polls(3)
    assert changes == ["fast = 12\n"]

    st = params.stat()  # touch: newer mtime, same bytes
    os.utime(params, ns=(st.st_atime_ns + 10**9, st.st_mtime_ns + 10**9))
    wait_polls(4)
    assert [j["kind"] for j in s.jobs()] == ["watch"]
    s.shutdown()
    assert changes == ["fast = 12\n"]


@pytest.mark.postgres
def test_postgres_job_store_keeps_the_schedule(schedulers: list[SessionScheduler]) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/test"  # plain scheme: rewritten to the installed psycopg2
    scope = f"sched-test-{os.getpid()}"
    first = _new(schedulers, url, scope=scope)
    first.every("recon", 300, lambda: None)
    first.start()
    before = first.jobs()
    first.shutdown()
    second = _new(schedulers, url, scope=scope, clock=lambda: datetime.now(UTC) + timedelta(seconds=60))
    second.every("recon", 300, lambda: None)
    second.start()
    after = second.jobs()
    second.shutdown()
    engine = create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table_name(scope)}"')
    engine.dispose()
    assert after == before


def test_starting_while_another_writer_holds_the_sqlite_lock_waits_for_it(tmp_path: Path) -> None:
    """The bot's publisher and risk store write to the same file: the job store must wait for their lock (as
    every writer of ours does), not fail with 'database is locked' (it did, beginning deferred)."""
    from sqlalchemy import text

    from tradewarden.persistence import Database

    db = Database.open(None, tmp_path)
    holder = db.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
    tx = holder.begin()
    holder.execute(text("CREATE TABLE other_writer (x INTEGER)"))
    sched = SessionScheduler(str(db.engine.url), "paper-BTC/USDT", engine=db.engine)
    sched.every("tick", 3600, lambda: None)
    failure: list[BaseException] = []

    def start() -> None:
        try:
            sched.start()
        except BaseException as exc:  # collected here, asserted in the test's own thread
            failure.append(exc)

    starter = threading.Thread(target=start)
    starter.start()
    starter.join(1.0)  # the scheduler is now waiting for the lock (or has already failed)
    tx.commit()
    holder.close()
    starter.join(30)
    try:
        assert not starter.is_alive()
        assert failure == []
        assert "tick" in {job.id for job in sched._scheduler.get_jobs()}
    finally:
        sched.shutdown(wait=False)
        db.close()
