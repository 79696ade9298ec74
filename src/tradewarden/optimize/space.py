"""The search space: Optuna suggestions from a strategy's declared parameter ranges, and parameter grids.

Parameters the user fixes (``--fix k=v``) are left out of the search. A parameter set the strategy itself
rejects (a cross-parameter check such as ``fast < slow``) is not an error of the study: the trial is
*pruned* with the strategy's message, so the sampler learns to avoid that region and the trial does not
count as a result (see :func:`tradewarden.optimize.study.objective_function`).
"""

from __future__ import annotations

import itertools
import json
import tomllib
from pathlib import Path
from typing import Any

from tradewarden.strategies.base import (
    BoolParam,
    ChoiceParam,
    FloatParam,
    IntParam,
    Param,
    ParamError,
    Strategy,
)


class GridError(ValueError):
    """A parameter grid that cannot be read or does not fit the strategy."""


def searched_params(cls: type[Strategy], fixed: dict[str, Any]) -> dict[str, Param]:
    unknown = sorted(set(fixed) - set(cls.parameters))
    if unknown:
        raise ParamError(
            f"strategy {cls.name}: unknown parameter(s) {', '.join(unknown)} "
            f"(known: {', '.join(cls.parameters) or 'none'})"
        )
    return {name: p for name, p in cls.parameters.items() if name not in fixed}


def suggest(trial: Any, params: dict[str, Param]) -> dict[str, Any]:
    """Ask an Optuna trial for one value of each parameter within its declared range."""
    values: dict[str, Any] = {}
    for name, p in params.items():
        if isinstance(p, IntParam):
            values[name] = trial.suggest_int(name, p.low, p.high, step=p.step)
        elif isinstance(p, FloatParam):
            values[name] = trial.suggest_float(name, p.low, p.high, step=p.step, log=p.log)
        elif isinstance(p, BoolParam):
            values[name] = trial.suggest_categorical(name, [False, True])
        elif isinstance(p, ChoiceParam):
            values[name] = trial.suggest_categorical(name, list(p.choices))
        else:
            raise ParamError(
                f"parameter {name}: type {type(p).__name__} has no search range; fix it with --fix"
            )
    return values


def parse_grid(text: str, cls: type[Strategy]) -> dict[str, list[Any]]:
    """``"fast=10,20,30;slow=50,100"`` -> ``{"fast": [10, 20, 30], "slow": [50, 100]}``, values parsed
    and range-checked by the strategy's parameter types."""
    raw: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, values = part.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise GridError(f"grid: cannot read {part!r}; write name=v1,v2;name2=v3,v4")
        raw[name.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    return check_grid(raw, cls, "grid")


def load_grid_file(path: Path, cls: type[Strategy]) -> dict[str, list[Any]]:
    """A grid from JSON (``{"fast": [10, 20], ...}``) or TOML (``fast = [10, 20]``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GridError(f"grid file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise GridError(
            f"grid file {path}: not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise GridError(f"grid file {path}: expected a table of parameter name -> list of values")
    return check_grid(data, cls, f"grid file {path}")


def check_grid(raw: dict[str, list[Any]], cls: type[Strategy], where: str) -> dict[str, list[Any]]:
    if not raw:
        raise GridError(f"{where}: empty grid")
    grid: dict[str, list[Any]] = {}
    for name, values in raw.items():
        spec = cls.parameters.get(name)
        if spec is None:
            raise GridError(
                f"{where}: strategy {cls.name} has no parameter {name!r} (known: {', '.join(cls.parameters)})"
            )
        if not values:
            raise GridError(f"{where}: no values for {name}")
        parsed = []
        for value in values:
            try:
                v = spec.parse(value)
                spec.validate(v)
            except ParamError as exc:
                raise GridError(f"{where}: {exc}") from None
            parsed.append(v)
        grid[name] = list(dict.fromkeys(parsed))  # drop repeats, keep order
    return grid


def grid_size(grid: dict[str, list[Any]]) -> int:
    size = 1
    for values in grid.values():
        size *= len(values)
    return size


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]
