"""Finding strategies by name or loading a user's strategy from a Python file."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from tradewarden.errors import BadInput
from tradewarden.strategies.base import Strategy
from tradewarden.strategies.builtin import Donchian, Rsi, SmaAtr, SmaCross

BUILTINS: dict[str, type[Strategy]] = {cls.name: cls for cls in (Donchian, SmaCross, SmaAtr, Rsi)}


class StrategyLoadError(BadInput, ValueError):
    """A strategy name or file that cannot be used; the message says why."""


def strategy_class(name_or_path: str) -> type[Strategy]:
    """The strategy class for a built-in name, a ``file.py`` path, or ``file.py:ClassName``."""
    if name_or_path in BUILTINS:
        return BUILTINS[name_or_path]
    path_part, _, class_name = name_or_path.partition(":")
    path = Path(path_part)
    if path.suffix != ".py":
        raise StrategyLoadError(
            f"unknown strategy {name_or_path!r}: use a built-in ({', '.join(BUILTINS)}) or a path to a .py file"
        )
    if not path.is_file():
        raise StrategyLoadError(f"strategy file {path} not found")
    module_name = f"tradewarden_user_strategy_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StrategyLoadError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file can fail in any way; report it, don't crash
        raise StrategyLoadError(f"{path}: error while loading: {type(exc).__name__}: {exc}") from exc
    found = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Strategy) and obj.__module__ == module_name
        and not inspect.isabstract(obj)
    ]
    if class_name:
        found = [c for c in found if c.__name__ == class_name]
    if len(found) != 1:
        what = f"class {class_name}" if class_name else "exactly one Strategy subclass"
        raise StrategyLoadError(f"{path}: expected {what}, found {[c.__name__ for c in found]}")
    return found[0]


def load_strategy(name_or_path: str, params: dict[str, Any] | None = None) -> Strategy:
    return strategy_class(name_or_path)(**(params or {}))
