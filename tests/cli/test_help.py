"""`--help` and `--version` as a new user reads them: every default shown, every value named plainly."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

import tradewarden
from tradewarden.cli.main import app

REPO = Path(__file__).resolve().parents[2]
# A type printed in place of an option's value name, e.g. "--strategy <str>" or "--param <list[str]>".
TYPE_METAVAR = re.compile(r"--[\w-]+(?:, --[\w-]+)* <[^>]*>")


def commands() -> Iterator[tuple[list[str], object]]:
    """Every command of the app as (the words that invoke it, the built command)."""
    stack: list[tuple[list[str], object]] = [([], typer.main.get_command(app))]
    while stack:
        path, command = stack.pop()
        yield path, command
        subs: dict[str, object] = getattr(command, "commands", {})
        stack.extend(([*path, name], sub) for name, sub in subs.items())


def compact(text: str) -> str:
    return "".join(text.split())   # help is wrapped at the terminal width: compare without whitespace


def help_of(*words: str) -> str:
    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_backtest_help_shows_defaults_and_plain_value_names() -> None:
    out = help_of("backtest")
    assert "[default: no-per-candle]" in out
    assert "--strategy TEXT" in out and "--data PATH" in out
    assert TYPE_METAVAR.search(out) is None, out
    assert "<bool>" not in out


def test_a_default_written_into_a_help_text_is_printed_not_eaten_as_markup() -> None:
    out = help_of("kill-switch", "on")
    assert "[default: user@host]" in out


ALL = sorted(commands(), key=lambda c: c[0])


@pytest.mark.parametrize(("words", "command"), ALL, ids=[" ".join(w) or "root" for w, _ in ALL])
def test_every_help_prints_its_help_texts_whole_and_names_no_python_type(words: list[str],
                                                                          command: object) -> None:
    out = help_of(*words)
    assert TYPE_METAVAR.search(out) is None, out
    assert "<bool>" not in out
    for param in getattr(command, "params", []):
        text = getattr(param, "help", None)
        if text:   # brackets and all: "[default: ...]" used to vanish
            assert compact(text) in compact(out), (words, text)


def test_version_is_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert result.output.strip() == f"tradewarden {project['version']}"
    assert tradewarden.__version__ == project["version"]
