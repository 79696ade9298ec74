"""``tradewarden config show``: the effective configuration, secrets masked, and its config hash."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

config_app = typer.Typer(
    name="config",
    help="Inspect the configuration (file < TRADEWARDEN_* environment < --set).",
    no_args_is_help=True,
)

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


_CONFIG_HELP = "Config file (.toml, .yaml or .yml). Default: the file named by TRADEWARDEN_CONFIG, if any."
_SET_HELP = "Override a setting, key=value with a dotted key, e.g. strategy.params.fast=20 (repeatable)."


def _fail(message: str) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(2)


@config_app.command("show")
def show(
    config: Annotated[Path | None, typer.Option("--config", help=_CONFIG_HELP)] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help=_SET_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: {config, config_hash}.")] = False,
) -> None:
    """Print the effective configuration of `tradewarden run` (secrets as ***) and its config hash: the hash
    that `run --mode live --live-confirm` checks."""
    import orjson

    from tradewarden import config as twconfig

    try:
        effective = twconfig.load_run_config(config, twconfig.parse_overrides(list(set_ or [])))
    except twconfig.ConfigError as exc:
        raise _fail(str(exc)) from None
    digest = effective.config_hash
    shown = twconfig.masked_dump(effective.config)
    if as_json:
        payload: dict[str, Any] = {"config": shown, "config_hash": digest}
        typer.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    source = config or os.environ.get(twconfig.CONFIG_ENV, "").strip() or None
    _out.print(f"# effective configuration; file: {escape(str(source)) if source else '(none)'}")
    if effective.simulator_timeframe:
        _out.print(f"# no exchange.id and no market.timeframe: `run` trades the built-in simulator on "
                   f"{twconfig.SIM_DEFAULT_TIMEFRAME} bars")
    _out.print(escape(_as_toml(shown)))
    _out.print(f"# config hash (sha256 of the trading settings): {digest}")


def _toml_value(value: Any) -> str:
    import orjson

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        # TOML has no null: an unset setting inside a table is left out
        inner = ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None)
        return "{" + (f" {inner} " if inner else "") + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return orjson.dumps(str(value)).decode()  # a basic TOML string is a JSON string


def _key(name: Any) -> str:
    text = str(name)
    return text if text.replace("_", "").replace("-", "").isalnum() else _toml_value(text)


def _as_toml(data: dict[str, Any]) -> str:
    """The dump as a TOML-like listing: top-level values first, then one table per section."""
    lines = [_line(k, v) for k, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if isinstance(values, dict):
            lines.append(f"\n[{section}]")
            lines.extend(_line(k, v) for k, v in values.items())
    return "\n".join(lines)


def _line(key: Any, value: Any) -> str:
    # TOML has no null: an unset setting is shown commented out, so the listing stays valid TOML
    return f"# {_key(key)} = (not set)" if value is None else f"{_key(key)} = {_toml_value(value)}"
