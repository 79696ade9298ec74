"""The agent's decision core as a table: desired state, stored and shown state, the process the agent knows and
its backoff → what to do; and what a child's exit does to the backoff."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.domain.instances import DesiredState, InstanceRole, InstanceState
from tradewarden.fleet.agent import instance_command
from tradewarden.fleet.supervise import (
    Act,
    Backoff,
    Process,
    SuperviseSettings,
    View,
    after_exit,
    decide,
    describe_exit,
    setup_failed,
)
from tradewarden.persistence.fleet_repo import InstanceView, WarmupProgress

SET = SuperviseSettings(backoff_s=1.0, backoff_max_s=8.0, stable_s=60.0, stop_grace_s=10.0)
NOW = 1000.0
RUN, STOP = DesiredState.RUNNING, DesiredState.STOPPED
S = InstanceState
OURS = Process(pid=41, started_at=NOW - 5)
OURS_TERMED = Process(pid=41, started_at=NOW - 5, term_at=NOW - 3)
OURS_TERMED_LONG_AGO = Process(pid=41, started_at=NOW - 50, term_at=NOW - 10)
FOREIGN_TERMED = Process(pid=77, started_at=NOW - 2, own=False, term_at=NOW - 2)
WAITING = Backoff(failures=2, retry_at=NOW + 1.5)
DUE = Backoff(failures=2, retry_at=NOW - 0.1)


@pytest.mark.parametrize(("desired", "state", "shown", "pid", "process", "alive", "backoff", "act", "target"), [
    # desired running
    (RUN, S.IDLE, "idle", None, None, False, Backoff(), Act.SPAWN, None),
    (RUN, S.STOPPED, "stopped", 12, None, False, Backoff(), Act.SPAWN, None),
    (RUN, S.ERROR, "error", 12, None, False, DUE, Act.SPAWN, None),
    (RUN, S.ERROR, "error", 12, None, False, WAITING, Act.WAIT, None),
    (RUN, S.ACTIVE, "lost", 12, None, False, Backoff(), Act.SPAWN, None),  # died: its row is stale
    (RUN, S.ACTIVE, "lost", 12, None, True, WAITING, Act.WAIT, None),  # hung: backoff still applies
    (RUN, S.ACTIVE, "active", 12, None, True, Backoff(), Act.NOTHING, None),  # a live process we did not start
    (RUN, S.WARMING, "warming", 41, OURS, True, Backoff(), Act.NOTHING, None),
    (RUN, S.ACTIVE, "lost", 41, OURS, True, Backoff(), Act.TERM, 41),  # ours claimed it, then hung
    (RUN, S.ACTIVE, "lost", 12, OURS, False, Backoff(), Act.NOTHING, None),  # ours has not claimed it yet
    (RUN, S.STOPPING, "stopping", 41, OURS_TERMED, True, Backoff(), Act.NOTHING, None),  # Connect after Stop
    (RUN, S.STOPPING, "stopping", 41, OURS_TERMED_LONG_AGO, True, Backoff(), Act.KILL, 41),
    # desired stopped
    (STOP, S.ACTIVE, "active", 41, OURS, True, Backoff(), Act.TERM, 41),
    (STOP, S.STOPPING, "stopping", 41, OURS_TERMED, True, Backoff(), Act.NOTHING, None),
    (STOP, S.STOPPING, "stopping", 41, OURS_TERMED_LONG_AGO, True, Backoff(), Act.KILL, 41),
    (STOP, S.ACTIVE, "active", 77, None, True, Backoff(), Act.TERM, 77),  # not ours, heartbeating
    (STOP, S.STOPPING, "stopping", 77, FOREIGN_TERMED, True, Backoff(), Act.NOTHING, None),
    (STOP, S.ACTIVE, "lost", 77, None, False, Backoff(), Act.RETIRE, 77),  # died while running: record it
    (STOP, S.ACTIVE, "lost", 77, None, True, Backoff(), Act.NOTHING, None),  # a live pid: not for us to end
    (STOP, S.STOPPED, "stopped", 77, None, False, Backoff(), Act.NOTHING, None),
    (STOP, S.IDLE, "idle", None, None, False, WAITING, Act.NOTHING, None),
    (STOP, S.ERROR, "error", 12, None, False, Backoff(), Act.NOTHING, None),
])
def test_decide(desired: DesiredState, state: InstanceState, shown: str, pid: int | None, process: Process | None,
                alive: bool, backoff: Backoff, act: Act, target: int | None) -> None:
    decision = decide(View(desired, state, shown, pid, process, alive), backoff, NOW, SET)
    assert (decision.act, decision.pid) == (act, target), decision.reason
    assert decision.reason


def test_a_wait_says_how_long() -> None:
    decision = decide(View(RUN, S.ERROR, "error", 12, None), WAITING, NOW, SET)
    assert decision.reason == "restart in 1.5 s (backoff)"


@pytest.mark.parametrize(("failures", "delay"), [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0),
                                                 (500, 8.0)])
def test_the_backoff_doubles_and_is_capped(failures: int, delay: float) -> None:
    assert Backoff(failures).delay(SET) == delay


def test_failures_in_a_row_back_off_and_a_stable_run_counts_afresh() -> None:
    backoff = Backoff()
    waits = []
    for _ in range(5):
        backoff, line = after_exit(backoff, Process(41, started_at=NOW - 1), 1, RUN, NOW, SET)
        waits.append(backoff.retry_at - NOW)
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert line == "pid 41 exited with code 1; restart 5 in 8 s"
    stable, line = after_exit(backoff, Process(41, started_at=NOW - 60), -9, RUN, NOW, SET)
    assert (stable.failures, stable.retry_at) == (1, NOW + 1.0)
    assert line == "pid 41 was killed by SIGKILL; restart 1 in 1 s"


def test_a_hung_child_is_stopped_and_its_exit_counts_as_a_failure() -> None:
    decision = decide(View(RUN, S.ACTIVE, "lost", 41, OURS, True), Backoff(), NOW, SET)
    assert (decision.act, decision.hung, decision.reason) == (Act.TERM, True, "hung: its heartbeat is stale")
    hung = Process(41, started_at=NOW - 5, term_at=NOW - 1, hung=True)
    backoff, line = after_exit(Backoff(), hung, -15, RUN, NOW, SET)
    assert backoff == Backoff(1, NOW + 1.0) and line == "pid 41 was killed by SIGTERM; restart 1 in 1 s"


def test_an_exit_asked_for_is_no_failure() -> None:
    failed = Backoff(3, NOW + 4)
    assert after_exit(failed, OURS, 0, STOP, NOW, SET) == (Backoff(), "pid 41 exited with code 0")
    again, line = after_exit(failed, OURS_TERMED, 0, RUN, NOW, SET)
    assert again == Backoff() and "stopped by the agent" in line


@pytest.mark.parametrize(("proc", "code", "desired", "held"), [
    (OURS, 2, RUN, True),            # bad input: restarting cannot help
    (OURS, 1, RUN, False),           # a crash: the backoff restart
    (OURS, -9, RUN, False),          # killed by a signal: the backoff restart
    (OURS, 3, RUN, False),           # refused (lease held elsewhere): it may free up
    (OURS, 2, STOP, False),          # it was to stop anyway
    (OURS_TERMED, 2, RUN, False),    # the agent stopped it (a Stop taken back): not its own verdict
])
def test_only_a_setup_error_of_its_own_is_held_instead_of_restarted(proc: Process, code: int,
                                                                     desired: DesiredState, held: bool) -> None:
    assert setup_failed(proc, code, desired) is held


@pytest.mark.parametrize(("code", "text"), [
    (3, "was refused (exit 3: another process holds the instance's lease)"),
    (2, "exited with code 2 (bad input: the registry or the config; see its log)"),
    (-15, "was killed by SIGTERM"),
    (1, "exited with code 1"),
])
def test_exits_are_described(code: int, text: str) -> None:
    assert describe_exit(code) == text


def test_the_child_runs_the_instance_its_row_describes(tmp_path: Path) -> None:
    row = InstanceView(5, 2, "binance_us", 9, InstanceRole.TRADING, "h1", None, S.IDLE, RUN, ("BTC/USDT",),
                       ("1m",), WarmupProgress(), None, None, None, 0)
    cmd = instance_command(row, "h1", config=tmp_path / "my.toml", work="m:f", python="py")
    assert cmd == ["py", "-m", "tradewarden.cli.main", "instance", "run", "--exchange", "binance_us", "--role",
                   "trading", "--host", "h1", "--agent", "--account", "9", "--config",
                   str(tmp_path / "my.toml"), "--work", "m:f"]
