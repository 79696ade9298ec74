"""The agent: one per machine, it makes the actual state of the instances assigned to its host follow the
desired state operators set (``instance start|stop``, the dashboard's Connect and Stop buttons).

Every ``agent_poll_s`` it reads its host's instances and, for each, asks the pure decision core
(``fleet/supervise.py``) what to do: start ``tradewarden instance run`` as a child (its own process group,
output appended to ``data_dir/logs/instance-<id>.log``, rotated by size like the bot's own log), SIGTERM a
process whose instance should stop (SIGKILL after ``stop_grace_s``), restart a child that crashed after an
exponential backoff (one that exits 2, bad input, is left in ``error`` until started again), or record the end
of a process that died in a running state. Each of those steps is a note in the instance's activity feed.

The agent holds the lease ``agent:{host}`` (``persistence/fleet_agents.py``): a second agent on the same host
is refused, and the lease row is the agent's presence in the registry. Stopping the agent leaves its
instances running (a restarted agent leaves alone the live ones it finds); a service manager that stops the
whole control group stops them too.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy.exc import SQLAlchemyError

from tradewarden import __version__
from tradewarden.domain.instances import DesiredState, InstanceState
from tradewarden.fleet.runner import one_line
from tradewarden.fleet.supervise import (
    Act,
    Backoff,
    Decision,
    Process,
    SuperviseSettings,
    View,
    after_exit,
    agent_actor,
    decide,
    describe_exit,
    setup_failed,
)
from tradewarden.observability.logs import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, rotate_output_file
from tradewarden.persistence import fleet_repo, instance_repo
from tradewarden.persistence.database import Database
from tradewarden.persistence.fleet_agents import agent_lease_key
from tradewarden.persistence.fleet_repo import HEARTBEAT_MS, STALE_MS, InstanceView
from tradewarden.persistence.lease import AccountLease, LeaseHeldError, LeaseHolder, boot_id
from tradewarden.private_files import open_private, private_dir

log = logging.getLogger(__name__)


class AgentRefused(RuntimeError):
    """Another agent runs for this host (exit 3); the message names it."""


class AgentLeaseLost(RuntimeError):
    """This agent's lease was taken over: another agent runs for the host now (exit 1)."""


@dataclass(frozen=True, slots=True)
class AgentSettings:
    poll_s: float = 1.0
    heartbeat_s: float = HEARTBEAT_MS / 1000
    stale_s: float = STALE_MS / 1000
    lease_ttl_s: float = 15.0
    supervise: SuperviseSettings = field(default_factory=SuperviseSettings)
    # an instance's log rotates like the bot's own (logging.max_bytes, logging.backups; either 0: never)
    log_max_bytes: int = DEFAULT_MAX_BYTES
    log_backups: int = DEFAULT_BACKUPS


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _last_error(path: Path, tail_bytes: int = 4096) -> str | None:
    """The child's own one-line reason (its last ``error:`` line) from the end of its log, if it wrote one."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - tail_bytes))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    found = [line.strip() for line in lines if line.strip().startswith("error:")]
    return found[-1].removeprefix("error:").strip()[:300] if found else None


def instance_command(instance: InstanceView, host: str, *, config: Path | None = None, work: str | None = None,
                     python: str = sys.executable) -> list[str]:
    """The command line that runs ``instance`` (the registry row says what it serves); ``--agent`` leaves the
    desired state to the agent (see ``instance run``)."""
    cmd = [python, "-m", "tradewarden.cli.main", "instance", "run", "--exchange", instance.exchange,
           "--role", instance.role.value, "--host", host, "--agent"]
    if instance.user_exchange_id is not None:
        cmd += ["--account", str(instance.user_exchange_id)]
    if config is not None:
        cmd += ["--config", str(config)]
    if work is not None:
        cmd += ["--work", work]
    return cmd


@dataclass
class _Child:
    popen: subprocess.Popen[bytes]
    process: Process
    log: IO[bytes]


class Agent:
    """The agent of ``host``: :meth:`start` (take the host's lease), then :meth:`tick` or :meth:`run`, then
    :meth:`stop`. ``work`` is passed on to ``instance run --work`` (tests run their own work)."""

    def __init__(self, db: Database, host: str, log_dir: Path, settings: AgentSettings | None = None, *,
                 config: Path | None = None, work: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.host = host
        self.log_dir = log_dir
        self.settings = settings or AgentSettings()
        self.config = config
        self.work = work
        self.actor = agent_actor(host)
        self._monotonic = monotonic
        self._children: dict[int, _Child] = {}
        self._foreign: dict[int, Process] = {}  # processes not ours that we asked to stop
        self._backoff: dict[int, Backoff] = {}
        self._lease = AccountLease(db, agent_lease_key(host),
                                   LeaseHolder(host, os.getpid(), f"agent {__version__}", 0, boot_id()),
                                   ttl_ms=round(self.settings.lease_ttl_s * 1000))
        self._renewed_at = 0.0

    # -- lifetime --------------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self._lease.acquire()
        except LeaseHeldError as exc:
            raise AgentRefused(f"another agent runs for host {self.host}: {exc.holder.describe()}; one agent "
                               f"per host (a dead one's lease expires within "
                               f"{self.settings.lease_ttl_s:g} s)") from None
        self._renewed_at = self._monotonic()

    def stop(self) -> None:
        """Give the host's lease up; the instances keep running (see the module's docstring)."""
        for child in self._children.values():
            child.log.close()
        self._children.clear()
        try:
            self._lease.release()
        except SQLAlchemyError as exc:  # it expires
            log.warning("agent: releasing the lease failed: %s", one_line(exc))

    def run(self, stop: threading.Event) -> None:
        """Tick every ``poll_s`` until ``stop`` is set; raises :class:`AgentLeaseLost`."""
        while not stop.is_set():
            self.tick()
            stop.wait(self.settings.poll_s)

    # -- one look ----------------------------------------------------------------------------------------
    def tick(self) -> list[tuple[int, Decision]]:
        """Compare desired and actual state of every instance on this host once, and act; returns what was
        decided for each (for tests and ``--once``)."""
        now = self._monotonic()
        try:
            self._renew(now)
            rows = instance_repo.list_instances(self.db, host=self.host)
            db_now = fleet_repo.db_now_ms(self.db)
        except SQLAlchemyError as exc:  # the children go on; the next tick tries again
            log.warning("agent: the database did not answer: %s", one_line(exc))
            return []
        decided: list[tuple[int, Decision]] = []
        for inst in rows:
            try:
                decided.append((inst.id, self._tend(inst, db_now, now)))
            except SQLAlchemyError as exc:
                log.warning("agent: instance %s: %s", inst.id, one_line(exc))
        return decided

    def _renew(self, now: float) -> None:
        if now - self._renewed_at < self.settings.heartbeat_s:
            return
        if not self._lease.renew():
            raise AgentLeaseLost(f"another agent took over host {self.host}'s lease (this one did not renew it "
                                 f"within {self.settings.lease_ttl_s:g} s)")
        self._renewed_at = now

    def _tend(self, inst: InstanceView, db_now: int, now: float) -> Decision:
        inst = self._reap(inst, now)
        backoff = self._backoff.get(inst.id, Backoff())
        if inst.desired is DesiredState.STOPPED and backoff.failures:
            backoff = self._backoff[inst.id] = Backoff()
        child = self._children.get(inst.id)
        if child is not None:  # it writes as long as it runs: rotated while it does, checked every tick
            self._rotate(self._log_path(inst.id))
        process = child.process if child is not None else self._foreign.get(inst.id)
        view = View(inst.desired, inst.state, inst.shown(db_now, round(self.settings.stale_s * 1000)), inst.pid,
                    process, inst.pid is not None and _pid_alive(inst.pid))
        decision = decide(view, backoff, now, self.settings.supervise)
        self._apply(inst, decision, now)
        return decision

    def _reap(self, inst: InstanceView, now: float) -> InstanceView:
        """Collect a child that exited (and forget a foreign process that is gone); the instance as it is now."""
        foreign = self._foreign.get(inst.id)
        if foreign is not None and not _pid_alive(foreign.pid):
            del self._foreign[inst.id]
        child = self._children.get(inst.id)
        if child is None:
            return inst
        code = child.popen.poll()
        if code is None:
            return inst
        del self._children[inst.id]
        child.log.close()
        if setup_failed(child.process, code, inst.desired):
            self._backoff[inst.id] = Backoff()
            return self._hold(inst, child.process.pid, code)
        backoff, line = after_exit(self._backoff.get(inst.id, Backoff()), child.process, code, inst.desired, now,
                                   self.settings.supervise)
        self._backoff[inst.id] = backoff
        self._note(inst.id, line)
        return inst

    def _hold(self, inst: InstanceView, pid: int, code: int) -> InstanceView:
        """A setup error: ``error`` with the reason, and desired ``stopped`` so that it stays stopped until the
        operator wants it again (Connect, ``instance start``: the desired state changes back to running)."""
        why = _last_error(self._log_path(inst.id)) or describe_exit(code)
        reason = f"setup error (exit {code}): {why}"
        self._note(inst.id, f"pid {pid} {describe_exit(code)}; not restarted until it is started again")
        now = instance_repo.get_instance(self.db, inst.id)  # the child may have recorded its end meanwhile
        if now.state is not InstanceState.ERROR:
            instance_repo.transition(self.db, inst.id, InstanceState.ERROR, reason, actor=self.actor,
                                     expect=now.state, error=reason)
        return instance_repo.set_desired(self.db, inst.id, DesiredState.STOPPED, actor=self.actor,
                                         reason=f"{reason}; fix it, then Connect (or `instance start`)")

    def _apply(self, inst: InstanceView, decision: Decision, now: float) -> None:
        act = decision.act
        if act is Act.SPAWN:
            self._spawn(inst, decision, now)
        elif act in (Act.TERM, Act.KILL) and decision.pid is not None:
            sig = signal.SIGTERM if act is Act.TERM else signal.SIGKILL
            child = self._children.get(inst.id)
            if child is not None:
                self._signal_group(child.popen.pid, sig)
                child.process = replace(child.process, term_at=child.process.term_at or now,
                                        hung=child.process.hung or decision.hung)
            else:
                self._signal(decision.pid, sig)
                known = self._foreign.get(inst.id)
                self._foreign[inst.id] = known if known is not None and known.pid == decision.pid else \
                    Process(decision.pid, now, own=False, term_at=now)
            self._note(inst.id, f"{sig.name} to pid {decision.pid}: {decision.reason}")
        elif act is Act.RETIRE:
            instance_repo.transition(self.db, inst.id, InstanceState.ERROR, f"lost: {decision.reason}",
                                     actor=self.actor, expect=inst.state,
                                     error=f"pid {decision.pid} died without stopping")

    def _spawn(self, inst: InstanceView, decision: Decision, now: float) -> None:
        backoff = self._backoff.get(inst.id, Backoff())
        cmd = instance_command(inst, self.host, config=self.config, work=self.work)
        path = private_dir(self.log_dir, "log directory") / f"instance-{inst.id}.log"
        self._rotate(path)  # the earlier runs' output
        out = open_private(path, append=True)
        try:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            out.write(f"--- {stamp} agent on {self.host}: {decision.reason}\n".encode())
            out.flush()
            popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True, close_fds=True)
        except OSError as exc:
            out.close()
            failed = replace(backoff, failures=backoff.failures + 1)
            wait = failed.delay(self.settings.supervise)
            self._backoff[inst.id] = replace(failed, retry_at=now + wait)
            self._note(inst.id, f"cannot start `instance run`: {one_line(exc)}; retry in {wait:g} s")
            return
        self._children[inst.id] = _Child(popen, Process(popen.pid, now), out)
        again = f" (restart {backoff.failures})" if backoff.failures else ""
        self._note(inst.id, f"started pid {popen.pid}{again}: {decision.reason}; log {path}")

    def _log_path(self, instance_id: int) -> Path:
        return self.log_dir / f"instance-{instance_id}.log"

    def _rotate(self, path: Path) -> None:
        try:
            rotate_output_file(path, self.settings.log_max_bytes, self.settings.log_backups)
        except OSError as exc:  # a full disk must not stop the agent from tending its instances
            log.warning("agent: cannot rotate %s: %s", path, exc.strerror or exc)

    def _signal_group(self, pid: int, sig: signal.Signals) -> None:
        """Our child leads its own process group: signal the group, so whatever it started goes too."""
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError as exc:
            log.warning("agent: cannot signal pid %s: %s", pid, exc)

    def _signal(self, pid: int, sig: signal.Signals) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError as exc:
            log.warning("agent: cannot signal pid %s: %s", pid, exc)

    def _note(self, instance_id: int, line: str) -> None:
        log.info("instance %s: %s", instance_id, line)
        instance_repo.note(self.db, instance_id, line, actor=self.actor)
