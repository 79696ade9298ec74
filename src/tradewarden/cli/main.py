"""The ``tradewarden`` command: registers every command group and turns known errors into clear messages."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer

from tradewarden import __version__
from tradewarden.cli.helpfmt import plain_help

app = typer.Typer(
    name="tradewarden",
    help="A crypto trading bot: one engine for backtest, paper, shadow and live trading.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, attribute, name, kind): kind "command" registers a function, "group" a typer sub-app.
_COMMANDS: list[tuple[str, str, str, str]] = [
    ("tradewarden.cli.backtest_cmd", "backtest", "backtest", "command"),
    ("tradewarden.cli.config_cmd", "config_app", "config", "group"),
    ("tradewarden.cli.sim_cmd", "sim", "sim", "command"),
    ("tradewarden.cli.data_cmd", "data_app", "data", "group"),
    ("tradewarden.cli.harness_cmd", "harness", "harness", "command"),
    ("tradewarden.cli.cache_cmd", "cache_app", "cache", "group"),
    ("tradewarden.cli.risk_cmd", "kill_switch_app", "kill-switch", "group"),
    ("tradewarden.cli.risk_cmd", "stage_app", "stage", "group"),
    ("tradewarden.cli.risk_cmd", "audit_app", "audit", "group"),
    ("tradewarden.cli.emergency_cmd", "emergency_stop", "emergency-stop", "command"),
    ("tradewarden.cli.optimize_cmd", "optimize", "optimize", "command"),
    ("tradewarden.cli.run_cmd", "run", "run", "command"),
    ("tradewarden.cli.run_cmd", "replay", "replay", "command"),
    ("tradewarden.cli.backup_cmd", "backup", "backup", "command"),
    ("tradewarden.cli.backup_cmd", "restore", "restore", "command"),
    ("tradewarden.cli.ops_cmd", "status", "status", "command"),
    ("tradewarden.cli.ops_cmd", "serve", "serve", "command"),
    ("tradewarden.cli.ops_cmd", "api_app", "api", "group"),
    ("tradewarden.cli.report_cmd", "report_app", "report", "group"),
    ("tradewarden.cli.notify_cmd", "notify_app", "notify", "group"),
    ("tradewarden.cli.fleet_cmd", "exchanges_app", "exchanges", "group"),
    ("tradewarden.cli.fleet_cmd", "users_app", "users", "group"),
    ("tradewarden.cli.fleet_cmd", "accounts_app", "accounts", "group"),
    ("tradewarden.cli.instance_cmd", "instance_app", "instance", "group"),
    ("tradewarden.cli.instance_cmd", "agent", "agent", "command"),
]


def _register() -> None:
    for module_name, attr, name, kind in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # that command group is not part of this build
                continue
            raise
        target: Any = getattr(module, attr, None)
        if target is None:
            continue
        if kind == "group":
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)


_register()


def _print_version(wanted: bool) -> None:
    if wanted:
        print(f"tradewarden {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """tradewarden: backtest, paper, shadow and live trading on one engine."""


plain_help(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
