"""The agent's decisions: a functional core with no I/O.

For each instance on its host the agent reads the desired state, the stored state and how a reader shows it
(``lost`` when a running state's heartbeat went stale), what it knows of the child process it started, and
its restart backoff; :func:`decide` turns those into one :class:`Decision`. :func:`after_exit` says what a
child's exit means for the backoff. The agent (``fleet/agent.py``) does the I/O: it spawns, signals, and
notes each step in the activity feed. Times are the agent's monotonic clock, in seconds.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, replace
from enum import StrEnum

from tradewarden.domain.instances import LOST, DesiredState, InstanceState

#: exit codes of ``tradewarden instance run`` (cli/errors.py): what each says about a restart
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3


def agent_actor(host: str) -> str:
    """Who acts when the agent does (the activity feed's actor), and an instance it started."""
    return f"agent@{host}"


@dataclass(frozen=True, slots=True)
class SuperviseSettings:
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    stable_s: float = 60.0  # a child that ran this long before exiting resets the backoff
    stop_grace_s: float = 10.0  # SIGTERM, then SIGKILL after this long


@dataclass(frozen=True, slots=True)
class Backoff:
    """Failures in a row and when the next start may happen."""

    failures: int = 0
    retry_at: float = 0.0

    def delay(self, settings: SuperviseSettings) -> float:
        """The wait before the next start after ``failures`` failures: 1, 2, 4... times the base, capped."""
        if self.failures <= 0:
            return 0.0
        return float(min(settings.backoff_max_s, settings.backoff_s * 2.0 ** min(self.failures - 1, 30)))


@dataclass(frozen=True, slots=True)
class Process:
    """The process the agent acts on: its own child, or one that runs the instance without being its child
    (started by hand, or by an agent that died); ``term_at`` is when SIGTERM was sent, if it was."""

    pid: int
    started_at: float
    own: bool = True
    term_at: float | None = None
    hung: bool = False  # the agent stopped it because its heartbeat went stale: its exit is a failure


class Act(StrEnum):
    NOTHING = "nothing"
    SPAWN = "spawn"  # start `instance run` for it
    WAIT = "wait"  # a restart is due later (backoff)
    TERM = "term"  # SIGTERM the process
    KILL = "kill"  # SIGKILL it: SIGTERM did not stop it within the grace
    RETIRE = "retire"  # record the end of a process that died in a running state (nobody else can)


@dataclass(frozen=True, slots=True)
class Decision:
    act: Act
    reason: str
    pid: int | None = None
    hung: bool = False  # a TERM because the process stopped heartbeating


@dataclass(frozen=True, slots=True)
class View:
    """One instance as the agent sees it on one tick."""

    desired: DesiredState
    state: InstanceState
    shown: str  # the state, or "lost"
    pid: int | None  # the pid the registry records
    process: Process | None  # what the agent knows runs it
    pid_alive: bool = False  # the registry's pid names a live process on this host


def decide(view: View, backoff: Backoff, now: float, settings: SuperviseSettings) -> Decision:
    """What to do about one instance now."""
    proc = view.process
    if view.desired is DesiredState.STOPPED:
        if proc is None:
            if view.state.is_running and view.shown != LOST and view.pid is not None:
                # alive (its heartbeat is fresh) but not ours: started by hand or by an agent that died
                return Decision(Act.TERM, "desired stopped: stopping the process that runs it", view.pid)
            if view.state.is_running and view.shown == LOST and not view.pid_alive:
                return Decision(Act.RETIRE, f"pid {view.pid} is gone without recording its end", view.pid)
            return Decision(Act.NOTHING, "stopped, as desired")
        if proc.term_at is None:
            return Decision(Act.TERM, "desired stopped", proc.pid)
        if now - proc.term_at >= settings.stop_grace_s:
            return Decision(Act.KILL, f"still running {settings.stop_grace_s:g} s after SIGTERM", proc.pid)
        return Decision(Act.NOTHING, "stopping")
    if proc is not None:
        if proc.term_at is not None:  # asked to stop (hung, or a Stop taken back): let it go, then start again
            if now - proc.term_at >= settings.stop_grace_s:
                return Decision(Act.KILL, f"still running {settings.stop_grace_s:g} s after SIGTERM", proc.pid)
            return Decision(Act.NOTHING, "stopping")
        if proc.own and view.pid == proc.pid and view.shown == LOST:
            # it claimed the instance and then stopped heartbeating: hung (until it claims, the row is not its)
            return Decision(Act.TERM, "hung: its heartbeat is stale", proc.pid, hung=True)
        return Decision(Act.NOTHING, "running")
    if view.state.is_running and view.shown != LOST:
        # a live process we did not start holds it (and its lease): leave it alone
        return Decision(Act.NOTHING, f"running as pid {view.pid}, not started by this agent")
    if now < backoff.retry_at:
        return Decision(Act.WAIT, f"restart in {backoff.retry_at - now:.1f} s (backoff)")
    why = "lost (its heartbeat is stale)" if view.shown == LOST else view.state.value
    return Decision(Act.SPAWN, f"desired running, instance {why}")


def after_exit(backoff: Backoff, proc: Process, returncode: int, desired: DesiredState, now: float,
               settings: SuperviseSettings) -> tuple[Backoff, str]:
    """The backoff after ``proc`` exited with ``returncode`` (negative: killed by that signal), and a line
    for the activity feed.

    An exit while the operator wants it stopped, or after the agent's own SIGTERM, is no failure. Otherwise
    it is one, and the next start waits 1, 2, 4... times the base (capped), counted afresh when the child had
    run for ``stable_s``.
    """
    how = describe_exit(returncode)
    if desired is DesiredState.STOPPED:
        return Backoff(), f"pid {proc.pid} {how}"
    if proc.term_at is not None and not proc.hung:  # we stopped it, then the operator wanted it again
        return Backoff(), f"pid {proc.pid} {how} (stopped by the agent); starting it again"
    failures = 1 if now - proc.started_at >= settings.stable_s else backoff.failures + 1
    failed = replace(backoff, failures=failures)
    wait = failed.delay(settings)
    return replace(failed, retry_at=now + wait), f"pid {proc.pid} {how}; restart {failures} in {wait:g} s"


def setup_failed(proc: Process, returncode: int, desired: DesiredState) -> bool:
    """The child exited 2 (bad input: the registry or the config) on its own while wanted running: starting it
    again cannot help until someone fixes the input, so the agent records ``error`` and leaves it stopped
    until the operator asks again (Connect, ``instance start``), instead of restarting it forever. A crash
    (any other code, a signal) keeps the backoff restart."""
    return returncode == EXIT_BAD_INPUT and desired is DesiredState.RUNNING and proc.term_at is None


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    if returncode == EXIT_REFUSED:
        return "was refused (exit 3: another process holds the instance's lease)"
    if returncode == EXIT_BAD_INPUT:
        return "exited with code 2 (bad input: the registry or the config; see its log)"
    return f"exited with code {returncode}"
