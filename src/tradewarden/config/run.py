"""The configuration ``tradewarden run`` trades with, and its hash: the one the live gate checks.

``run`` and ``config show`` both build it here, so the hash a user is shown (and confirms with
``--live-confirm``) is exactly the hash the session checks, whatever the session adjusts on its own: with no
exchange configured, the built-in simulator's bars (5m) unless a timeframe is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradewarden.config.hashing import config_hash
from tradewarden.config.loader import load_config
from tradewarden.config.models import AppConfig

#: the built-in simulator replays 1m candles; 5m bars make a session of a few simulated hours trade
SIM_DEFAULT_TIMEFRAME = "5m"


@dataclass(frozen=True)
class RunConfig:
    """The effective configuration of a session and its hash."""

    config: AppConfig
    config_hash: str
    #: whether the timeframe is the simulator's default (no exchange and no timeframe configured)
    simulator_timeframe: bool


def for_run(cfg: AppConfig) -> RunConfig:
    """``cfg`` as a session trades it, with its hash."""
    simulator_timeframe = cfg.exchange.id is None and "timeframe" not in cfg.market.model_fields_set
    if simulator_timeframe:
        market = cfg.market.model_copy(update={"timeframe": SIM_DEFAULT_TIMEFRAME})
        cfg = cfg.model_copy(update={"market": market})
    return RunConfig(cfg, config_hash(cfg), simulator_timeframe)


def load_run_config(path: Path | str | None = None, overrides: Mapping[str, Any] | None = None,
                    env: Mapping[str, str] | None = None) -> RunConfig:
    """:func:`~tradewarden.config.load_config` (same arguments), as a session trades it, with its hash."""
    return for_run(load_config(path, overrides, env=env))
