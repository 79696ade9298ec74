"""Loading risk settings on their own (``backtest --risk-config FILE``, ``stage show --config FILE``).

The settings themselves (:class:`RiskConfig` and its parts) live in :mod:`tradewarden.config.risk`, as the
``risk`` section of the one configuration; this module re-exports them for the risk layer.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tradewarden.config.risk import (
    STAGE_OVERRIDES,
    Action,
    BreakerConfig,
    BreakersConfig,
    ConsecutiveLossesBreaker,
    DailyLossConfig,
    DrawdownBreaker,
    ErrorRateBreaker,
    Pct,
    RiskConfig,
    StageConfig,
    StaleDataBreaker,
)
from tradewarden.errors import BadInput

__all__ = [
    "STAGE_OVERRIDES",
    "Action",
    "BreakerConfig",
    "BreakersConfig",
    "ConsecutiveLossesBreaker",
    "DailyLossConfig",
    "DrawdownBreaker",
    "ErrorRateBreaker",
    "Pct",
    "RiskConfig",
    "RiskConfigError",
    "StageConfig",
    "StaleDataBreaker",
    "load_risk_config",
    "load_risk_config_file",
]


class RiskConfigError(BadInput, ValueError):
    """Invalid risk settings; ``errors`` holds one ``risk.<field>: problem`` line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid risk configuration:\n  " + "\n  ".join(errors))
        self.errors = errors


def _messages(exc: ValidationError, prefix: str) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling; see docs/RISK.md)"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] not in ("missing",) and "input" in err and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
        out.append(f"{loc}: {msg}")
    return out


def load_risk_config(data: RiskConfig | Mapping[str, Any] | None) -> RiskConfig:
    """Risk settings from a table (errors name the field as ``risk.<field>``); a :class:`RiskConfig`, such as
    ``AppConfig.risk``, is already valid and comes back as it is."""
    if isinstance(data, RiskConfig):
        return data
    if data is None:
        return RiskConfig()
    if not isinstance(data, Mapping):
        raise RiskConfigError([f"risk: expected a table of settings, got {type(data).__name__}"])
    try:
        return RiskConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise RiskConfigError(_messages(exc, "risk")) from None


def load_risk_config_file(path: Path) -> RiskConfig:
    """Read risk settings from a TOML or YAML file: either the settings at top level, or a ``risk`` table."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RiskConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(raw.decode("utf-8"))
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(raw) or {}
        else:
            raise RiskConfigError([f"{path}: unknown format (use .toml, .yaml or .yml)"])
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RiskConfigError([f"{path}: not valid {path.suffix.lstrip('.').upper()}: {exc}"]) from None
    if isinstance(data, Mapping) and "risk" in data:
        data = data["risk"]
    try:
        return load_risk_config(data)
    except RiskConfigError as exc:
        raise RiskConfigError([f"{path}: {e}" for e in exc.errors]) from None
