"""ConfigError and the translation of pydantic's errors into ``location: problem (got value)`` lines."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from tradewarden.errors import BadInput
from tradewarden.observability.scrub import scrub

#: field names whose values are never shown in a message
SECRET_FIELDS = frozenset({"api_key", "api_secret", "api_password"})
#: ... and every name, in any section, whose value (or whose table's value) is never shown
_SECRET_NAMES = SECRET_FIELDS | {"token"}

Loc = tuple[str | int, ...]

_OPERATORS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


class ConfigError(BadInput):
    """An invalid configuration; ``errors`` holds every problem, each as ``"location: problem"``."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__(self._render())

    def _render(self) -> str:
        if len(self.errors) == 1:
            return f"invalid configuration: {self.errors[0]}"
        lines = "\n".join(f"  - {e}" for e in self.errors)
        return f"invalid configuration ({len(self.errors)} problems):\n{lines}"


def _clean_loc(loc: Loc, data: Any, error_type: str) -> Loc:
    """Drop the parts pydantic adds for union members (``float``, ``int``...) which are not in the input."""
    kept: list[str | int] = []
    node = data
    for part in loc:
        in_table = isinstance(node, Mapping) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_table or in_list:
            node = node[part]
            kept.append(part)
        elif error_type == "missing":
            kept.append(part)  # a required setting that is absent: its place is the point
            node = None
        else:
            node = None  # a union member tag or a validator name: not a place in the file
    return tuple(kept)


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names of the section at ``loc`` (for "did you mean")."""
    current: type[BaseModel] = model
    for part in loc:
        field = current.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            current = annotation
        else:
            return []
    return list(current.model_fields)


def _problem(error: Mapping[str, Any], model: type[BaseModel], loc: Loc) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _fields_at(model, loc[:-1]), n=1)
        return "unknown setting" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = next(iter(ctx.values()))
        return f"must be {_OPERATORS[kind]} {bound}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    message = str(error["msg"])
    for prefix, replacement in (("Value error, ", ""), ("Input should be", "must be"),
                                ("Assertion failed, ", "")):
        if message.startswith(prefix):
            message = replacement + message[len(prefix):]
    return message[:1].lower() + message[1:]


def _shown_value(loc: Loc, value: Any) -> str:
    """``got <value>``, or nothing for a secret or a table holding one."""
    if any(str(part) in _SECRET_NAMES for part in loc):
        return ""
    if isinstance(value, Mapping) and any(str(k) in _SECRET_NAMES for k in value):
        return ""
    # text from a file, a variable or --set is shown bare when that is unambiguous: (got -1), not (got '-1')
    bare = isinstance(value, str) and value != "" and not any(c.isspace() or c in "'\"" for c in value)
    text = value if bare else repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"got {scrub(text)}"


def format_validation_errors(exc: ValidationError, data: Any, model: type[BaseModel],
                             origins: Mapping[tuple[str, ...], str] | None = None) -> list[str]:
    """One line per bad location; several union-member errors for one location become one line."""
    grouped: dict[Loc, list[Mapping[str, Any]]] = {}
    for error in exc.errors(include_url=False):
        loc = _clean_loc(tuple(error["loc"]), data, error["type"])
        grouped.setdefault(loc, []).append(error)
    lines: list[str] = []
    for loc, errors in grouped.items():
        where = ".".join(str(p) for p in loc) or "(top level)"
        problems = list(dict.fromkeys(_problem(e, model, loc) for e in errors))
        if len(problems) > 1:
            problems = [" or ".join(p.removeprefix("must be ") for p in problems)]
            problems[0] = "must be " + problems[0]
        first = errors[0]
        notes = []
        if first["type"] not in ("extra_forbidden", "missing"):
            notes.append(_shown_value(loc, first.get("input")))
        notes.append(_origin(loc, origins or {}))
        detail = ", ".join(n for n in notes if n)
        lines.append(f"{where}: {problems[0]}" + (f" ({detail})" if detail else ""))
    return lines


def _origin(loc: Loc, origins: Mapping[tuple[str, ...], str]) -> str:
    """``from TRADEWARDEN_X`` for the most specific place a bad value came from, when known."""
    parts = tuple(str(p) for p in loc)
    for end in range(len(parts), 0, -1):
        origin = origins.get(parts[:end])
        if origin:
            return f"from {origin}"
    return ""
