"""The config hash (what a run traded with, in 64 hex characters) and the masked view of a config."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from pydantic import SecretStr

from tradewarden.config.models import AppConfig
from tradewarden.observability.scrub import MASK, register_public, scrub_value

#: bump when the set of hashed settings or their canonical form changes (2: the risk section as validated,
#: every setting with its default, instead of the table as written; exchange.allow_withdrawal_keys)
HASH_VERSION = 2


def _canonical(obj: Any) -> Any:
    """Decimals as plain strings without trailing zeros ("10.0" and "1E+1" both hash as "10")."""
    if isinstance(obj, Decimal):
        text = format(obj.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, SecretStr):
        raise TypeError("a secret must never be part of the config hash")
    return obj


def _params_file_digest(path: PurePath | None) -> str | None:
    """The parameters a params file holds affect trading, its location does not: hash its bytes."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return "unreadable"


def hashed_settings(cfg: AppConfig) -> dict[str, Any]:
    """Exactly the settings the hash covers, in canonical form."""
    exchange = cfg.exchange
    settings: dict[str, Any] = _canonical({
        "version": HASH_VERSION,
        "strategy": {"name": cfg.strategy.name, "params": dict(cfg.strategy.params),
                     "params_file_sha256": _params_file_digest(cfg.strategy.params_file)},
        "market": {"symbol": cfg.market.symbol, "timeframe": cfg.market.timeframe},
        "instrument": cfg.instrument.model_dump(),
        "backtest": cfg.backtest.model_dump(exclude={"out_dir"}),
        "exchange": {"id": exchange.id, "urls": exchange.urls, "options": exchange.options,
                     "sandbox": exchange.sandbox, "allow_withdrawal_keys": exchange.allow_withdrawal_keys},
        "risk": cfg.risk.model_dump(),
        "runtime": {"on_stop": cfg.runtime.on_stop, "stop_limit_offset_pct": cfg.runtime.stop_limit_offset_pct},
    })
    return settings


def canonical_json(settings: Any) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def config_hash(cfg: AppConfig) -> str:
    """sha256 hex of the canonical JSON of every setting that affects trading.

    Covered: strategy name and params (and the content of ``params_file``), market symbol and timeframe,
    the instrument filters, every backtest setting but ``out_dir``, the exchange id, urls, options,
    sandbox flag and ``allow_withdrawal_keys``, and every ``risk`` setting as validated, defaults included
    (so the active stage is part of it). Not covered: data_dir, market.data and other paths, logging,
    database, redis and credentials. The hash is registered as public so the log scrubber never masks it.
    """
    digest = hashlib.sha256(canonical_json(hashed_settings(cfg)).encode("utf-8")).hexdigest()
    register_public(digest)
    return digest


def masked_dump(cfg: AppConfig) -> dict[str, Any]:
    """The whole configuration as JSON-ready data, credentials shown as ``***`` (or None when unset)."""
    data = cfg.model_dump(mode="json")
    for name in ("api_key", "api_secret", "api_password"):
        if getattr(cfg.exchange, name) is not None:
            data["exchange"][name] = MASK
    if cfg.notify.telegram.token is not None:
        data["notify"]["telegram"]["token"] = MASK
    # a token inside a URL or an option is masked as well
    return {key: scrub_value(value) for key, value in data.items()}
