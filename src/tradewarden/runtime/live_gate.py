"""The hard live gate: live trading starts only when it is armed on purpose, for exactly this config.

Arming needs a real exchange (``exchange.id``: never the built-in simulator, which a session without one
would start), the environment variable ``LIVE_TRADING=YES_I_UNDERSTAND``, ``--live-confirm HASH`` equal to
the effective configuration's hash (any change to a trading setting changes the hash and so needs a new
confirmation) and a whole key pair. In paper and shadow mode no key material may be present at all, not even
half a pair, so a paper session can never hold the means to trade.

The gate decides from the configuration alone, before anything starts. What only the exchange can tell (the
key's permissions, the account's balance) is checked at boot by :mod:`tradewarden.runtime.live_checks`, which
refuses with the same :class:`LiveGateError`.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping
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
               keys: Collection[str], exchange_id: str | None) -> GateDecision:
    """Return the decision or raise :class:`LiveGateError` saying exactly why not.

    ``keys`` names the credential settings that hold a value (``api_key``, ``api_secret``, ``api_password``).
    """
    if mode not in MODES:
        raise LiveGateError("UNKNOWN_MODE", f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if mode != "live":
        if keys:
            names = ", ".join(f"exchange.{name}" for name in sorted(keys))
            raise LiveGateError(
                "KEYS_IN_NON_LIVE_MODE",
                f"exchange key material ({names}) is configured but the mode is {mode}; remove it (paper and "
                "shadow never need keys, and a session that cannot trade must not hold the means to)",
            )
        return GateDecision(mode, config_hash)
    if not exchange_id:
        # without one the session would trade against the built-in simulator while reporting "live"
        raise LiveGateError(
            "NO_EXCHANGE",
            "live trading needs a real exchange: set exchange.id (e.g. binance); to rehearse against the "
            "simulator, point exchange.urls at it (`tradewarden sim`)",
        )
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
    pair = {"api_key", "api_secret"}
    if not pair & set(keys):
        raise LiveGateError("KEYS_MISSING", "live trading needs exchange API keys (environment or a 600 secrets file)")
    if not pair <= set(keys):
        (missing,) = sorted(pair - set(keys))
        (present,) = sorted(pair & set(keys))
        raise LiveGateError("KEYS_INCOMPLETE",
                            f"exchange.{present} is set but exchange.{missing} is not: live trading needs both "
                            f"(TRADEWARDEN_EXCHANGE__{missing.upper()} or the secrets file)")
    return GateDecision(mode, config_hash)
