"""``optimize --symbols``: one study per symbol, and the chosen parameters as a ``strategy.per_symbol`` section.

Each symbol is optimised on its own candles (its own study, walk-forward windows, holdout and files, in a
folder named after it); a portfolio objective would need the whole portfolio simulated per trial and would
tie the symbols' parameters together, which one study per symbol keeps apart. The result every bot reads is
``per_symbol.toml``: a config file whose ``[strategy.per_symbol."BTC/USDT"]`` tables give each symbol its
parameters, exactly what :attr:`tradewarden.config.models.StrategyConfig.per_symbol` holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tradewarden.private_files import write_private


def parse_symbols(text: str) -> list[str]:
    """``"BTC/USDT,ETH/USDT"`` as a list; a clear error for an empty, malformed or repeated symbol."""
    symbols = [s.strip() for s in text.split(",")]
    bad = [s for s in symbols if s.count("/") != 1 or s.startswith("/") or s.endswith("/")]
    if not symbols or bad:
        raise ValueError(f"--symbols: each symbol must look like BASE/QUOTE, e.g. BTC/USDT,ETH/USDT; got {text!r}")
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    if twice:
        raise ValueError(f"--symbols: {', '.join(twice)} given twice")
    return symbols


def folder_name(symbol: str) -> str:
    """A symbol's study folder and study-name suffix: ``BTC/USDT`` -> ``BTCUSDT``."""
    return symbol.replace("/", "")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    raise ValueError(f"cannot write parameter value {value!r} to TOML")


def per_symbol_toml(strategy: str, timeframe: str, chosen: Mapping[str, Mapping[str, Any]],
                    studies: Sequence[str]) -> str:
    lines = [
        "# tradewarden optimize --symbols: the parameters chosen by one study per symbol",
        f"# studies: {', '.join(studies)}",
        "# use as --config, or copy these tables into your config",
        "",
        "[market]",
        f"symbols = [{', '.join(_toml_value(s) for s in chosen)}]",
        f"timeframe = {_toml_value(timeframe)}",
        "",
        "[strategy]",
        f"name = {_toml_value(strategy)}",
    ]
    for symbol, params in chosen.items():
        lines += ["", f"[strategy.per_symbol.{json.dumps(symbol)}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in params.items()]
    return "\n".join(lines) + "\n"


def write_per_symbol(out_dir: Path, strategy: str, timeframe: str, chosen: Mapping[str, Mapping[str, Any]],
                     studies: Sequence[str]) -> Path:
    path = out_dir / "per_symbol.toml"
    write_private(path, per_symbol_toml(strategy, timeframe, chosen, studies))
    return path
