"""How ``--help`` looks: plain text, and every option's value named after its type.

Two defaults of typer make the help wrong, so the app turns them off in one place:

* rich markup mode reads ``[...]`` in a help string as a style tag and drops it, so every
  ``[default: ...]`` written into a help text vanished (``Who is acting [default: user@host].`` printed
  as ``Who is acting .``). Plain help prints the text as written, and typer's own ``[default: ...]``,
  ``[env var: ...]`` and ``[required]`` with it.
* recent typer versions print the Python annotation as the value's name (``<str>``, ``<list[str]>``, and
  ``<bool>`` even for flags that take no value). Each option without a ``metavar`` of its own gets the
  conventional word for its type (``TEXT``, ``INTEGER``, ``FLOAT``, ``FILE``, ``DIR``, ``PATH``, or the
  choices) here, so commands added later are covered without repeating it at every option.

An explicit ``typer.Option(metavar=...)`` always wins.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand
from typer.models import ParameterInfo

__all__ = ["NamedValuesCommand", "metavar_for", "plain_help"]

_WORDS: dict[type, str] = {str: "TEXT", int: "INTEGER", float: "FLOAT"}


def plain_help(app: typer.Typer) -> None:
    """Plain help for ``app`` and every sub-app; their commands name their options' values."""
    app.rich_markup_mode = None
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):   # typer's default: None in older versions, TyperCommand now
            info.cls = NamedValuesCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            plain_help(group.typer_instance)


class NamedValuesCommand(TyperCommand):
    """A typer command whose options without a metavar of their own are named after their type.

    The names are set on the built command's options, from the annotations of the function the command
    calls: typer builds the options anew from those annotations for every invocation, so this is the one
    place where they can be named once for all commands.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.callback is None:
            return
        annotations = _annotations(inspect.unwrap(self.callback))
        for param in self.params:
            # Arguments print their own name; only options print a value's type in their place.
            if param.param_type_name != "option" or param.metavar is not None or param.name not in annotations:
                continue
            param.metavar = metavar_for(*annotations[param.name])


def metavar_for(annotation: object, info: ParameterInfo | None) -> str | None:
    """The value's name for a parameter of this annotation, or None for a flag (``bool``: no value)."""
    annotation = _without_none(annotation)
    if typing.get_origin(annotation) in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return metavar_for(args[0], info) if args else "TEXT"   # a repeatable option: one value's name
    if annotation is bool:
        return None
    if typing.get_origin(annotation) is typing.Literal:
        return "|".join(str(choice) for choice in typing.get_args(annotation))
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return "|".join(str(member.value) for member in annotation)
        if issubclass(annotation, Path):
            if info is not None and not info.dir_okay:
                return "FILE"
            return "DIR" if info is not None and not info.file_okay else "PATH"
        for base, word in _WORDS.items():
            if issubclass(annotation, base):
                return word
        return annotation.__name__.upper()
    return "VALUE"


def _annotations(function: typing.Callable[..., object]) -> dict[str, tuple[object, ParameterInfo | None]]:
    """Each parameter's type and its typer.Option/Argument (from ``Annotated`` or the default)."""
    hints = typing.get_type_hints(function, include_extras=True)
    out: dict[str, tuple[object, ParameterInfo | None]] = {}
    for name, parameter in inspect.signature(function).parameters.items():
        annotation = hints.get(name, parameter.annotation)
        info = parameter.default if isinstance(parameter.default, ParameterInfo) else None
        if typing.get_origin(annotation) is typing.Annotated:
            annotation, *extras = typing.get_args(annotation)
            info = next((e for e in extras if isinstance(e, ParameterInfo)), info)
        out[name] = (annotation, info)
    return out


def _without_none(annotation: object) -> object:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation
