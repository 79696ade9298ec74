"""The terminal side: a progress bar with the best value so far, and the results tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from tradewarden.optimize.analysis import walk_forward_table
from tradewarden.optimize.study import Progress as ProgressFn

if TYPE_CHECKING:
    from tradewarden.optimize.runner import Analysis, GateOutcome


@contextmanager
def trial_progress(console: Console, description: str) -> Iterator[ProgressFn]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task(description, total=None, best="-")

    def update(done: int, total: int, best: float | None) -> None:
        progress.update(task, completed=done, total=total, best="-" if best is None else f"{best:.4f}")

    with progress:
        yield update


def _parts(select_by: str) -> str:
    return "out-of-sample" if select_by == "oos" else "in-sample"


def _p(params: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def print_results(console: Console, a: Analysis, top: int = 10) -> None:
    obj = a.prepared.job.objective
    console.print(a.trials_summary, highlight=False)
    t = Table(
        title=f"Top trials by {obj} (mean over {_parts(a.prepared.job.select_by)} windows)"
    )
    for col in ("trial", "value", f"mean IS {obj}", f"mean OOS {obj}", "parameters"):
        t.add_column(col, justify="left" if col == "parameters" else "right")
    for value, s in a.ranked[:top]:
        t.add_row(
            str(s.number),
            f"{value:.4f}",
            f"{sum(s.scores.is_) / len(s.scores.is_):.4f}",
            f"{sum(s.scores.oos) / len(s.scores.oos):.4f}",
            _p(s.params),
        )
    console.print(t)

    wf = a.walk_forward
    w = Table(title="Walk-forward: refit on each in-sample window, scored on the next out-of-sample window")
    head, rows = walk_forward_table(wf, obj)
    for col in head:
        w.add_column(col, justify="left" if col == "parameters" else "right")
    for row in rows:
        w.add_row(*(f"{cell:.4f}" if isinstance(cell, float) else str(cell) for cell in row))
    console.print(w)
    _verdict(console, "walk-forward", wf.check.overfit, wf.check.reason)

    h = Table(title=f"Chosen parameters (trial {a.best.number}): {_p(a.best.params)}")
    for col in ("metric", "in-sample (search period)", "out-of-sample (holdout)"):
        h.add_column(col, justify="right")
    for k in a.final.in_sample:
        h.add_row(k, f"{a.final.in_sample[k]:.4f}", f"{a.final.out_of_sample[k]:.4f}")
    h.add_row("trades", str(a.final.trades_in_sample), str(a.final.trades_out_of_sample))
    console.print(h)
    _verdict(console, "holdout", a.holdout_check.overfit, f"{obj}: {a.holdout_check.reason}")


def _verdict(console: Console, what: str, overfit: bool, reason: str) -> None:
    tag = "[bold red]OVERFIT[/]" if overfit else "[green]ok[/]"
    console.print(f"{what}: {tag} {reason}", highlight=False)


def print_gate(console: Console, gate: GateOutcome) -> None:
    d = gate.decision
    tag = "[bold green]APPLY[/]" if d.apply else "[bold yellow]KEEP[/]"
    console.print(
        f"gate: {tag} {d.reason}" + (f" (written to {gate.current_file})" if gate.applied else ""),
        highlight=False,
    )
