"""What a run is asked to do (:class:`RunOptions`), what it ended with (:class:`SessionOutcome`), and the
exit codes the node returns."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tradewarden.errors import BadInput

#: exit code of a session that refused to start (live gate, another instance on the account): unlike a crash
#: (1), starting again cannot help, so a supervisor must not retry it (deploy/tradewarden.service)
REFUSED_TO_START = 3
DURATION_UNITS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class SessionError(RuntimeError):
    """A session that cannot start or go on; the message says why and what to do."""


def parse_duration(text: str | None) -> int | None:
    """``90s``, ``10m``, ``10h``, ``2d`` to milliseconds (market time); None for no limit."""
    if text is None:
        return None
    value = text.strip().lower()
    if len(value) < 2 or value[-1] not in DURATION_UNITS or not value[:-1].replace(".", "", 1).isdigit():
        raise BadInput(f"duration {text!r}: use a number and a unit, e.g. 90s, 10m, 10h, 2d")
    return int(float(value[:-1]) * DURATION_UNITS[value[-1]])


@dataclass
class RunOptions:
    mode: str
    config: Path | None = None
    overrides: dict[str, object] = field(default_factory=dict)
    duration: str | None = None
    live_confirm: str | None = None
    adopt: bool = False
    out_dir: Path | None = None
    console: bool | None = None  # the live panel: None shows it on a terminal
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class SessionOutcome:
    exit_code: int
    run_dir: Path
    reason: str
    config_hash: str
    candles: int = 0
    metrics: dict[str, object] = field(default_factory=dict)


def now_ms() -> int:
    """Wall-clock time in ms: when events happen (market time is the candles')."""
    return int(time.time() * 1000)


def run_dir_for(root: Path, mode: str, symbol: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return root / f"{stamp}-{mode}-{symbol.replace('/', '')}"
