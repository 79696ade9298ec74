"""The layers a configuration is built from: a file, environment variables, ``key=value`` overrides.

Each layer becomes a nested dict; the loader merges them in order and validates the result once, so every
bad field is reported together whatever layer it came from. ``origins`` remembers which file, variable or
override set each value, for error messages.
"""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tradewarden.config.errors import ConfigError
from tradewarden.config.models import AppConfig

ENV_PREFIX = "TRADEWARDEN_"
#: variables with the prefix that are not settings (read elsewhere) and so never an "unknown setting"
ENV_NOT_SETTINGS = frozenset({"config"})
#: words that set an optional setting back to "not set" when given as text
NONE_WORDS = frozenset({"", "none", "null"})

Tree = dict[str, Any]
Origins = dict[tuple[str, ...], str]


def read_structured_file(path: Path, what: str = "config file") -> Any:
    """The data of a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file; errors name the file and line."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        kind = suffix or "(none)"
        raise ConfigError([f"{path}: unsupported {what} type {kind!r} (use .toml, .yaml or .yml)"])
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: {what} not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a {what}"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read {what} ({exc.strerror})"]) from None
    if suffix == ".toml":
        try:
            return tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
        except tomllib.TOMLDecodeError as exc:  # its message ends "(at line L, column C)"
            raise ConfigError([f"{path}: TOML syntax error: {exc}"]) from None
    return _load_yaml(path, raw)


def _load_yaml(path: Path, raw: bytes) -> Any:
    import yaml  # only YAML users pay for it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(raw, Loader=loader)  # a safe loader: plain data only
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError([f"{path}: {where}YAML syntax error: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: YAML error: {exc}"]) from None


def read_config_file(path: Path) -> Tree:
    data = read_structured_file(path)
    if data is None:  # an empty YAML file
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a table of settings, not a {type(data).__name__}"])
    return data


def leaf_origins(tree: Mapping[str, Any], label: str, prefix: tuple[str, ...] = ()) -> Origins:
    """``{path: label}`` for every value in ``tree``."""
    origins: Origins = {}
    for key, value in tree.items():
        path = (*prefix, str(key))
        origins[path] = label
        if isinstance(value, Mapping):
            origins.update(leaf_origins(value, label, path))
    return origins


def parse_toml_value(text: str) -> Any:
    """``"20"`` -> 20, ``"true"`` -> True, ``"{a = 1}"`` -> {"a": 1}; anything TOML cannot read stays text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _describe_target(path: tuple[str, ...]) -> tuple[bool, bool]:
    """(typed, nullable) for the setting at ``path``.

    A typed setting (str, number, date, path...) gets the text as is: pydantic converts it and keeps exact
    what must stay exact (a Decimal from "0.1", a name such as "1h"). Inside a free-form table (strategy
    params, risk, exchange options) there is no type to convert to, so the text is read as a TOML value.
    """
    model: type[BaseModel] = AppConfig
    for index, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            return False, False
        annotation = field.annotation
        members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
        nullable = type(None) in members
        inner = [m for m in members if m is not type(None)]
        if len(inner) == 1 and isinstance(inner[0], type) and issubclass(inner[0], BaseModel):
            model = inner[0]
            continue
        if index < len(path) - 1:
            return False, False  # a key inside a table
        free = any(typing.get_origin(m) is dict or m is dict or m is Any for m in inner)
        return not free, nullable
    return False, False  # a whole section as one value: must be an inline table


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def coerce_text(path: tuple[str, ...], text: str) -> Any:
    """The value a text given for ``path`` (from the environment or ``--set``) stands for."""
    typed, nullable = _describe_target(path)
    if nullable and text.strip().lower() in NONE_WORDS:
        return None
    return text if typed else parse_toml_value(text)


def set_path(tree: Tree, path: tuple[str, ...], value: Any) -> str | None:
    """Put ``value`` at ``path`` in ``tree``, merging tables; an error text if a value is in the way."""
    node = tree
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            return (f"{'.'.join(path)}: cannot set a key inside {'.'.join(path[:depth + 1])}, "
                    f"which is a single value")
        node = child
    last = path[-1]
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        merge_into(node[last], value)
    else:
        node[last] = value
    return None


def merge_into(base: Tree, layer: Mapping[str, Any]) -> Tree:
    """Tables merge key by key; any other value from ``layer`` replaces the one in ``base``."""
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_into(base[key], value)
        else:
            base[key] = _copy(value)
    return base


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def env_layer(env: Mapping[str, str]) -> tuple[Tree, Origins, list[str]]:
    """Settings from ``TRADEWARDEN_<SECTION>__<FIELD>[__<KEY>...]`` variables (names are case-insensitive).

    A variable whose first part is not a section is ignored (it may be read by something else), unless it
    looks like a misspelt setting, e.g. ``TRADEWARDEN_STRATEGY_NAME`` (one underscore), which is an error.
    """
    tree: Tree = {}
    origins: Origins = {}
    errors: list[str] = []
    sections = list(AppConfig.model_fields)
    for name in sorted(env):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
        if path[0] not in AppConfig.model_fields:
            if path[0] in ENV_NOT_SETTINGS:
                continue
            near = next((s for s in sections if path[0].startswith(s + "_")), None)
            if near is not None:
                rest = path[0][len(near) + 1:].upper()
                errors.append(f"{name}: not a setting (did you mean {ENV_PREFIX}{near.upper()}__{rest}?)")
            continue
        if not all(path):
            errors.append(f"{name}: empty part in the name (parts are separated by exactly two underscores)")
            continue
        problem = set_path(tree, path, coerce_text(path, env[name]))
        if problem:
            errors.append(f"{problem} (from {name})")
        origins[path] = name
    return tree, origins, errors


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": "1", "c": "x"}``; every malformed item reported at once."""
    result: dict[str, str] = {}
    errors: list[str] = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            errors.append(f"--set {item!r}: expected key=value, e.g. strategy.params.fast=20")
        elif not key or not all(part.strip() for part in key.split(".")):
            errors.append(f"--set {item!r}: the key must be a dotted setting name, e.g. market.symbol")
        else:
            result[key] = value
    if errors:
        raise ConfigError(errors)
    return result


def overrides_layer(overrides: Mapping[str, Any]) -> tuple[Tree, Origins, list[str]]:
    """Settings from dotted keys; text values are converted as for environment variables."""
    tree: Tree = {}
    origins: Origins = {}
    errors: list[str] = []
    for key, value in overrides.items():
        path = tuple(part.strip() for part in str(key).split("."))
        if not all(path):
            errors.append(f"{key}: the key must be a dotted setting name, e.g. market.symbol")
            continue
        converted = coerce_text(path, value) if isinstance(value, str) else value
        problem = set_path(tree, path, converted)
        if problem:
            errors.append(f"{problem} (from --set {key})")
        origins[path] = f"--set {key}"
    return tree, origins, errors
