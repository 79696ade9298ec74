"""The ``fleet`` section of the configuration: the periods of fleet instances and the agent (heartbeat, the
moment an instance reads as lost, the lease's lifetime, the agent's poll, restart backoff, stop grace), the
mode of trading instances' bots, and the rules that keep them consistent (a lease outlives a late heartbeat).
:mod:`tradewarden.fleet` acts on it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tradewarden.config.section import Section


class FleetConfig(Section):
    """Fleet instances and the agent (``tradewarden instance run``, ``tradewarden agent``; docs/FLEET.md)."""

    heartbeat_s: float = Field(2.0, gt=0)  # an instance writes its heartbeat, progress and lease renewal this often
    stale_s: float = Field(10.0, gt=0)  # a running instance whose heartbeat is older shows as lost
    # an instance's (and an agent's) lease in the database: a holder that stopped renewing loses it after this
    lease_ttl_s: float = Field(15.0, gt=0)
    agent_poll_s: float = Field(1.0, gt=0)  # how often the agent compares desired and actual state
    restart_backoff_s: float = Field(1.0, gt=0)  # the agent's first restart delay; doubled per failure in a row
    restart_backoff_max_s: float = Field(60.0, gt=0)
    restart_stable_s: float = Field(60.0, gt=0)  # a child that ran this long resets the backoff
    stop_grace_s: float = Field(10.0, gt=0)  # SIGTERM, then SIGKILL after this long
    # trading instances (fleet/trading.py): the mode their bot runs in; live still needs LIVE_TRADING and
    # trading_live_confirm equal to the bot's config hash (its own live gate checks both)
    trading_mode: Literal["paper", "shadow", "live"] = "paper"
    trading_live_confirm: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")

    @model_validator(mode="after")
    def _periods(self) -> FleetConfig:
        if self.lease_ttl_s < 2 * self.heartbeat_s:
            raise ValueError(f"lease_ttl_s ({self.lease_ttl_s:g}) must be at least twice heartbeat_s "
                             f"({self.heartbeat_s:g}): a lease must survive a late heartbeat")
        if self.stale_s <= self.heartbeat_s:
            raise ValueError(f"stale_s ({self.stale_s:g}) must exceed heartbeat_s ({self.heartbeat_s:g})")
        if self.restart_backoff_max_s < self.restart_backoff_s:
            raise ValueError(f"restart_backoff_max_s ({self.restart_backoff_max_s:g}) must not be below "
                             f"restart_backoff_s ({self.restart_backoff_s:g})")
        return self
