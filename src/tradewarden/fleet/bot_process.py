"""A trading instance's bot process: ``python -m tradewarden.fleet.bot_process PARENT_PID ARGS...`` runs
``tradewarden ARGS...`` (``tradewarden.cli.main``, as ``python -m`` would) and ends with its instance.

The instance stops its bot itself when it stops, and the agent's signals reach both (one process group), but an
instance killed alone (``kill -9 PID``, the OOM killer) would leave its bot trading with nobody watching it, and
the instance restarted after it would meet that bot's account lock. So, on Linux, the kernel sends the bot
SIGTERM when its instance dies (``PR_SET_PDEATHSIG``): the bot stops as on any SIGTERM (finishes its step,
cancels or keeps its orders, persists). An instance that died before the bot got that far is seen at once (the
bot's parent is no longer ``PARENT_PID``) and the bot does not start.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import signal
import sys

#: prctl(2): the signal this process gets when its parent thread dies
PR_SET_PDEATHSIG = 1


def end_with_parent(parent: int) -> bool:
    """Ask for SIGTERM when the parent dies (Linux); False when the parent is already gone."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):  # no libc to ask: the process group is the only link then
            pass
    return os.getppid() == parent


def main(argv: list[str]) -> int:
    if not argv or not argv[0].isdigit():
        print("usage: python -m tradewarden.fleet.bot_process PARENT_PID ARGS...", file=sys.stderr)
        return 2
    if not end_with_parent(int(argv[0])):
        print(f"the instance (pid {argv[0]}) is gone: the bot does not start", file=sys.stderr)
        return 1
    sys.argv = ["tradewarden", *argv[1:]]
    runpy.run_module("tradewarden.cli.main", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
