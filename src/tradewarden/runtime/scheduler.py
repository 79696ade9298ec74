"""Periodic jobs of a running bot (reconciliation, daily summary, parameter reload) on APScheduler 3.x.

The schedule lives in the database through APScheduler's SQLAlchemy job store, one table per scope (an
exchange account), so a restart keeps each job's next run time: a daily summary that fell due while the bot
was down still runs once at start if it is within the misfire grace, and is skipped beyond it.

A persistent job store pickles its jobs, and a session's jobs are closures over live objects that cannot be
pickled. So the store only ever holds a reference to the module-level trampoline :func:`run_registered` with
the plain arguments ``(scope, job_id)``; the callables themselves sit in an in-process registry, filled by
:meth:`SessionScheduler.every`, :meth:`~SessionScheduler.daily_at` and :meth:`~SessionScheduler.watch_file`.
A session declares its jobs, then calls :meth:`~SessionScheduler.start`: declared jobs whose trigger is
unchanged keep their persisted next run time, changed ones are rescheduled, and stored jobs that were not
declared again are removed (their function no longer exists).

Every job runs with ``coalesce=True`` (missed runs collapse into one) and ``max_instances=1`` (a slow job is
never started a second time while it still runs; the overlapping run is skipped and reported). Jobs run on a
small thread pool, so a job that touches the session's event loop must hand its work over to that loop.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from tradewarden.observability.scrub import scrub
from tradewarden.persistence.database import resolve_driver, safe_url
from tradewarden.runtime.param_watch import FileWatcher

log = logging.getLogger(__name__)

DEFAULT_MISFIRE_GRACE_SECONDS = 60
#: jobs are short (a reconciliation, a summary, a file hash); a few threads let one slow job not block others
WORKER_THREADS = 4
TABLE_PREFIX = "tradewarden_jobs_"
#: PostgreSQL truncates identifiers at 63 bytes; keep the table name well inside that
_MAX_SCOPE_IN_TABLE = 32
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_TRAMPOLINE = "tradewarden.runtime.scheduler:run_registered"


class SchedulerError(RuntimeError):
    """The scheduler cannot be set up or its job store cannot be used. Never contains a password."""


class JobNotRegisteredError(LookupError):
    """A stored job fell due but no function is registered for it in this process."""


class JobFailedError(RuntimeError):
    """A job's function raised; the message is scrubbed of secrets and the original traceback is dropped."""


# --- the in-process registry behind the picklable trampoline -------------------------------------------------

_registry: dict[tuple[str, str], Callable[[], None]] = {}
_registry_lock = threading.Lock()


def register(scope: str, job_id: str, func: Callable[[], None]) -> None:
    """Make ``func`` the function run for ``job_id`` of ``scope`` in this process (replaces a previous one)."""
    with _registry_lock:
        _registry[(scope, job_id)] = func


def unregister(scope: str, job_id: str, func: Callable[[], None] | None = None) -> None:
    """Forget the function of a job; with ``func``, only if it is still that one."""
    with _registry_lock:
        if func is None or _registry.get((scope, job_id)) is func:
            _registry.pop((scope, job_id), None)


def run_registered(scope: str, job_id: str) -> None:
    """The function every persisted job points to: run whatever this process registered under the id."""
    with _registry_lock:
        func = _registry.get((scope, job_id))
    if func is None:
        raise JobNotRegisteredError(
            f"scheduled job {job_id!r} of scope {scope!r} has no function in this process: "
            "declare it (every/daily_at/watch_file) before start()"
        )
    try:
        func()
    except Exception as exc:
        # The job's own traceback may show locals or messages with secrets in them; keep a scrubbed line only.
        raise JobFailedError(scrub(f"job {job_id!r} failed: {type(exc).__name__}: {exc}")) from None


# --- helpers ---------------------------------------------------------------------------------------------------

def table_name(scope: str) -> str:
    """The job table of a scope: ``tradewarden_jobs_<scope>``, made a safe SQL identifier. A scope that had to
    be changed to fit gets a short hash so two different scopes never share a table."""
    slug = re.sub(r"[^a-z0-9_]", "_", scope.lower())[:_MAX_SCOPE_IN_TABLE]
    if slug != scope:
        slug = f"{slug}_{hashlib.sha256(scope.encode()).hexdigest()[:8]}"
    return TABLE_PREFIX + slug


def parse_hhmm(text: str) -> tuple[int, int]:
    """``"00:05"`` → ``(0, 5)``; anything but a 24-hour ``HH:MM`` raises ValueError."""
    match = _HHMM.match(text.strip())
    if match is None:
        raise ValueError(f"time {text!r} is not HH:MM in 24-hour UTC (e.g. \"00:05\")")
    return int(match.group(1)), int(match.group(2))


def daily_trigger(hhmm_utc: str) -> CronTrigger:
    hour, minute = parse_hhmm(hhmm_utc)
    return CronTrigger(hour=hour, minute=minute, second=0, timezone=UTC)


def next_daily_run(hhmm_utc: str, now: datetime) -> datetime:
    """The first UTC time at ``hhmm_utc`` at or after ``now`` (an aware datetime)."""
    nxt: datetime | None = daily_trigger(hhmm_utc).get_next_fire_time(None, now)
    if nxt is None:  # a daily cron trigger always has a next time
        raise ValueError(f"no next time for {hhmm_utc!r} after {now.isoformat()}")
    return nxt.astimezone(UTC)


def _interval(job_id: str, seconds: float) -> Callable[[datetime], BaseTrigger]:
    """An interval schedule whose first run is one interval after "now"."""
    if not seconds > 0:
        raise ValueError(f"job {job_id!r}: interval must be more than 0 seconds, got {seconds!r}")
    interval = timedelta(seconds=seconds)

    def make(now: datetime) -> BaseTrigger:
        return IntervalTrigger(seconds=seconds, start_date=now + interval, timezone=UTC)

    return make


def _trigger_key(trigger: BaseTrigger) -> tuple[str, str]:
    """What makes two triggers the same schedule (an interval trigger's start date does not)."""
    if isinstance(trigger, IntervalTrigger):
        return ("interval", repr(trigger.interval.total_seconds()))
    return (type(trigger).__name__, str(trigger))


JobKind = Literal["every", "daily", "watch"]
OutcomeKind = Literal["ran", "failed", "missed", "overlap"]


@dataclass(frozen=True)
class JobOutcome:
    """What happened to one scheduled run: it ``ran``, ``failed`` (``error`` is a scrubbed line), was
    ``missed`` (later than the misfire grace) or skipped as an ``overlap`` (the previous run still going)."""

    job_id: str
    kind: OutcomeKind
    scheduled: datetime | None
    error: str | None = None


@dataclass
class _Declared:
    job_id: str
    kind: JobKind
    make_trigger: Callable[[datetime], BaseTrigger]  # given "now", the trigger (interval start dates need it)
    grace: int


class SessionScheduler:
    """Periodic jobs of a running bot on APScheduler 3.x with a persistent SQLAlchemy job store.

    ``clock`` gives "now" (aware) for computing a new job's first run time and for :meth:`jobs` before start;
    tests inject a fixed time. APScheduler itself waits and judges misfires on the system clock, so ``clock``
    must be real UTC time (shifted at most for a test), not an accelerated simulation clock.
    """

    def __init__(self, db_url: str, scope: str, clock: Callable[[], datetime] | None = None, *,
                 misfire_grace_seconds: int = DEFAULT_MISFIRE_GRACE_SECONDS, engine: Engine | None = None) -> None:
        if not scope.strip():
            raise ValueError("scheduler scope must not be empty (use the exchange account, e.g. 'binance-1a2b3c')")
        _check_grace(misfire_grace_seconds, "misfire_grace_seconds")
        self.scope = scope
        self.misfire_grace_seconds = misfire_grace_seconds
        self._clock = clock or (lambda: datetime.now(UTC))
        # APScheduler logs two INFO lines per run; a file watch polled every 5 s would flood the log for days.
        # Failures, misses and overlaps are warnings and still get through. An explicitly set level is kept.
        quiet = logging.getLogger("apscheduler.executors.default")
        if quiet.level == logging.NOTSET:
            quiet.setLevel(logging.WARNING)
        self._engine = engine if engine is not None else _make_engine(db_url)
        self.table = table_name(scope)
        # SQLite: the job store reads its jobs and then writes them in one transaction; begun deferred, that
        # upgrade fails at once with "database is locked" while another writer (the bot's publisher, the risk
        # store) holds the lock. Begun IMMEDIATE it waits for the lock like every other writer of ours.
        store_engine = (self._engine.execution_options(sqlite_begin="IMMEDIATE")
                        if self._engine.dialect.name == "sqlite" else self._engine)
        self._store = SQLAlchemyJobStore(engine=store_engine, tablename=self.table)
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={"default": self._store},
            executors={"default": ThreadPoolExecutor(WORKER_THREADS)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": misfire_grace_seconds},
        )
        self._scheduler.add_listener(
            self._dispatch, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._declared: dict[str, _Declared] = {}
        self._funcs: dict[str, Callable[[], None]] = {}
        self._listeners: list[Callable[[JobOutcome], None]] = []
        self._started = False
        self._lock = threading.RLock()

    # --- declaring jobs ---------------------------------------------------------------------------------------

    def every(self, job_id: str, seconds: float, func: Callable[[], None], *,
              misfire_grace_seconds: int | None = None) -> None:
        """Run ``func`` every ``seconds`` (e.g. reconciliation every 300 s); the first run is one interval away."""
        self._declare(job_id, "every", _interval(job_id, seconds), func, misfire_grace_seconds)

    def daily_at(self, job_id: str, hhmm_utc: str, func: Callable[[], None], *,
                 misfire_grace_seconds: int | None = None) -> None:
        """Run ``func`` every day at ``hhmm_utc`` (``"HH:MM"``, UTC), e.g. the daily summary at ``"00:05"``."""
        try:
            trigger = daily_trigger(hhmm_utc)
        except ValueError as exc:
            raise ValueError(f"job {job_id!r}: {exc}") from None
        self._declare(job_id, "daily", lambda _now: trigger, func, misfire_grace_seconds)

    def watch_file(self, job_id: str, path: Path, on_change: Callable[[Path], None], seconds: float = 5.0) -> None:
        """Poll ``path`` every ``seconds`` and call ``on_change(path)`` once per real change of its content
        (see :mod:`tradewarden.runtime.param_watch`). The content now is the baseline."""
        watcher = FileWatcher(Path(path), on_change)

        def poll() -> None:
            watcher.poll()

        self._declare(job_id, "watch", _interval(job_id, seconds), poll, None)

    def _declare(self, job_id: str, kind: JobKind, make_trigger: Callable[[datetime], BaseTrigger],
                 func: Callable[[], None], grace: int | None) -> None:
        if not _JOB_ID.match(job_id):
            raise ValueError(f"job id {job_id!r} must be 1-100 letters, digits, '_', '.', ':' or '-'")
        if grace is not None:
            _check_grace(grace, f"job {job_id!r}: misfire_grace_seconds")
        declared = _Declared(job_id, kind, make_trigger, grace if grace is not None else self.misfire_grace_seconds)
        with self._lock:
            self._declared[job_id] = declared
            self._funcs[job_id] = func
            register(self.scope, job_id, func)
            if self._started:
                self._sync(declared)

    # --- running ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the job store, reconcile it with the declared jobs, then begin running them.

        Jobs due while the bot was down run once now (coalesced) if within their grace, else they are
        reported as missed and wait for their next time."""
        with self._lock:
            if self._started:
                return
            try:
                self._scheduler.start(paused=True)  # stores open, nothing runs until the schedule is reconciled
                stored = {job.id for job in self._scheduler.get_jobs()}
                for declared in self._declared.values():
                    self._sync(declared)
                for job_id in sorted(stored - self._declared.keys()):
                    log.info("scheduler %s: removing stored job %r, no longer declared", self.scope, job_id)
                    self._scheduler.remove_job(job_id)
            except SQLAlchemyError as exc:
                self._stop_quietly()
                detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise SchedulerError(
                    f"cannot use job store table {self.table} in {safe_url(self._engine.url)}: {detail}") from None
            self._started = True
            self._scheduler.resume()

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with ``wait``, let running jobs finish first. Safe to call twice or before start."""
        with self._lock:
            if self._started:
                self._scheduler.shutdown(wait=wait)
                self._started = False
            else:
                self._engine.dispose()
            for job_id, func in self._funcs.items():
                unregister(self.scope, job_id, func)

    @property
    def running(self) -> bool:
        return self._started

    def jobs(self) -> list[dict[str, Any]]:
        """Each job's ``id``, ``next_run`` (ISO 8601 UTC, None when paused), ``trigger`` and ``kind``.
        Before start: the declared jobs with the next run a new job would get now."""
        with self._lock:
            if not self._started:
                now = self._now()
                rows = []
                for d in self._declared.values():
                    trigger = d.make_trigger(now)
                    rows.append(_row(d.job_id, trigger.get_next_fire_time(None, now), trigger, d.kind))
                return rows
            kinds = {d.job_id: d.kind for d in self._declared.values()}
            return [_row(job.id, job.next_run_time, job.trigger, kinds.get(job.id))
                    for job in self._scheduler.get_jobs()]

    def on_outcome(self, callback: Callable[[JobOutcome], None]) -> None:
        """Call ``callback`` (on a scheduler thread) after every run, failure, missed run and overlap skip."""
        self._listeners.append(callback)

    # --- internals --------------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise SchedulerError("the scheduler clock returned a naive datetime; it must be timezone-aware (UTC)")
        return now.astimezone(UTC)

    def _sync(self, declared: _Declared) -> None:
        """Bring the stored job in line with the declaration, keeping its next run time when the schedule is
        the same (that is what lets a restart run a missed daily summary once)."""
        now = self._now()
        trigger = declared.make_trigger(now)
        args = (self.scope, declared.job_id)
        job = self._scheduler.get_job(declared.job_id)
        if job is not None and job.func_ref == _TRAMPOLINE and tuple(job.args) == args \
                and _trigger_key(job.trigger) == _trigger_key(trigger):
            if job.misfire_grace_time != declared.grace:
                self._scheduler.modify_job(declared.job_id, misfire_grace_time=declared.grace)
            return
        self._scheduler.add_job(
            _TRAMPOLINE, trigger=trigger, args=args, id=declared.job_id, name=f"{self.scope}:{declared.job_id}",
            replace_existing=True, misfire_grace_time=declared.grace,
            next_run_time=trigger.get_next_fire_time(None, now),
        )

    def _stop_quietly(self) -> None:
        try:
            self._scheduler.shutdown(wait=False)
        except Exception:  # already stopped or never fully started: nothing left to stop
            log.debug("scheduler %s: shutdown after a failed start", self.scope, exc_info=True)

    def _dispatch(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:
        outcome = _outcome(event)  # APScheduler itself logs misses and overlaps as warnings
        for callback in list(self._listeners):
            try:
                callback(outcome)
            except Exception:
                log.exception("scheduler %s: outcome listener failed", self.scope)


def _outcome(event: JobExecutionEvent | JobSubmissionEvent) -> JobOutcome:
    if isinstance(event, JobSubmissionEvent):  # only EVENT_JOB_MAX_INSTANCES is subscribed among these
        return JobOutcome(event.job_id, "overlap", event.scheduled_run_times[-1] if event.scheduled_run_times else None)
    if event.code == EVENT_JOB_MISSED:
        return JobOutcome(event.job_id, "missed", event.scheduled_run_time)
    if event.code == EVENT_JOB_ERROR:
        return JobOutcome(event.job_id, "failed", event.scheduled_run_time, scrub(str(event.exception)))
    return JobOutcome(event.job_id, "ran", event.scheduled_run_time)


def _row(job_id: str, next_run: datetime | None, trigger: BaseTrigger, kind: str | None) -> dict[str, Any]:
    return {
        "id": job_id,
        "next_run": next_run.astimezone(UTC).isoformat() if next_run else None,
        "trigger": str(trigger),
        "kind": kind,
    }


def _check_grace(value: object, what: str) -> None:
    # APScheduler 3 only takes whole seconds here
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a whole number of seconds, at least 1, got {value!r}")


def _make_engine(db_url: str) -> Engine:
    try:
        url = resolve_driver(make_url(db_url))
    except ArgumentError:
        raise SchedulerError(f"scheduler job store: not a database URL: {safe_url(db_url)!r}") from None
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() == "sqlite":
        # the bot's state store writes to the same file; wait for its lock instead of failing
        options["connect_args"] = {"timeout": 10}
    try:
        return create_engine(url, **options)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        raise SchedulerError(f"scheduler job store: cannot use database {safe_url(url)}: {exc}") from None
