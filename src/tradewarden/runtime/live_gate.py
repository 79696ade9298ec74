"""The hard live gate: live trading starts only when it is armed on purpose, for exactly this config.

Arming needs both the environment variable ``LIVE_TRADING=YES_I_UNDERSTAND`` and ``--live-confirm HASH``
equal to the effective configuration's hash; any change to a trading setting changes the hash and so needs
a new confirmation. In paper and shadow mode, exchange keys must not be present at all, so a paper session
can never hold the means to trade.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

LIVE_ENV = "LIVE_TRADING"
LIVE_ENV_VALUE = "YES_I_UNDERSTAND"
MODES = ("paper", "shadow", "live")


class LiveGateError(RuntimeError):
    """The gate refused; ``reason`` is a machine-readable code, the message says what to do."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class GateDecision:
    mode: str
    config_hash: str


def check_gate(mode: str, config_hash: str, confirm: str | None, env: Mapping[str, str],
               keys_present: bool) -> GateDecision:
    """Return the decision or raise :class:`LiveGateError` saying exactly why not."""
    if mode not in MODES:
        raise LiveGateError("UNKNOWN_MODE", f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if mode != "live":
        if keys_present:
            raise LiveGateError(
                "KEYS_IN_NON_LIVE_MODE",
                f"exchange API keys are configured but the mode is {mode}; remove them (paper and shadow never "
                "need keys, and a session that cannot trade must not hold the means to)",
            )
        return GateDecision(mode, config_hash)
    value = env.get(LIVE_ENV)
    if value is None:
        raise LiveGateError("ENV_MISSING", f"live trading needs the environment variable {LIVE_ENV}={LIVE_ENV_VALUE}")
    if not hmac.compare_digest(value, LIVE_ENV_VALUE):
        raise LiveGateError("ENV_WRONG_VALUE", f"{LIVE_ENV} must be exactly {LIVE_ENV_VALUE}")
    if not confirm:
        raise LiveGateError("CONFIRM_MISSING",
                            f"live trading needs --live-confirm {config_hash} (the hash of this exact config)")
    if not hmac.compare_digest(confirm.strip().lower(), config_hash.lower()):
        raise LiveGateError(
            "CONFIRM_MISMATCH",
            f"--live-confirm {confirm} does not match this config's hash {config_hash}: the config changed since "
            "it was confirmed, or the hash is of another config. Review `tradewarden config show` and confirm again",
        )
    if not keys_present:
        raise LiveGateError("KEYS_MISSING", "live trading needs exchange API keys (environment or a 600 secrets file)")
    return GateDecision(mode, config_hash)
