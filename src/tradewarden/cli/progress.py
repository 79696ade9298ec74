"""Progress display that appears only for work that takes longer than about a second."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


class DelayedProgress:
    """A rich progress bar that shows itself after ``delay`` seconds if the work is not done by then."""

    def __init__(self, console: Console, description: str, total: int | None = None, delay: float = 1.0) -> None:
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  TextColumn("{task.completed}/{task.total}" if total else ""),
                                  TimeElapsedColumn(), console=console, transient=True)
        self._task: TaskID = self._progress.add_task(description, total=total)
        self._timer = threading.Timer(delay, self._show)
        self._timer.daemon = True
        self._lock = threading.Lock()
        self._shown = False
        self._done = False

    def _show(self) -> None:
        with self._lock:
            if not self._done:
                self._progress.start()
                self._shown = True

    def update(self, completed: int, total: int | None = None) -> None:
        self._progress.update(self._task, completed=completed, total=total)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        with self._lock:
            self._done = True
            self._timer.cancel()
            if self._shown:
                self._progress.stop()


@contextmanager
def delayed_progress(console: Console, description: str, total: int | None = None,
                     delay: float = 1.0) -> Iterator[DelayedProgress]:
    bar = DelayedProgress(console, description, total, delay)
    bar.start()
    try:
        yield bar
    finally:
        bar.stop()
