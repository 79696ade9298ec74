"""docs/RUNBOOK.md cannot rot: every command in it runs, in order, against a paper session the test starts with the
runbook's own `run` command, in a working directory laid out as the runbook assumes (bot.toml, params.json,
candles/, the data directory). A command is a ``$ `` line of a ```console block; an HTML comment right before the
block says how to run it:

* ``<!-- runbook-test: session -->``: the block's command is the bot, started in the background first;
* ``<!-- runbook-test: skip (why) -->``: not run (systemd, live trading, the real exchange); a ``tradewarden``
  command's options are still parsed, so a removed flag fails here too;
* ``<!-- runbook-test: exit 0 1; expect "text" -->``: the exit codes allowed (default 0), text the output must
  hold. Exit 2 (bad input: a renamed command, a removed flag) is never allowed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer
from tests.conftest import params_file

from tradewarden.cli.main import app
from tradewarden.data.sample import sample_1m_path

RUNBOOK = Path(__file__).resolve().parents[1] / "docs" / "RUNBOOK.md"
DIRECTIVE = re.compile(r"^<!--\s*runbook-test:\s*(.*?)\s*-->$")
SECTIONS = ["Emergency procedures", "The daily check", "The weekly review", "Re-optimization", "Parameter changes",
            "Troubleshooting", "Backup and restore"]
TROUBLES = ["The feed keeps reconnecting", "`-1013` filter rejections", "The kill switch will not turn off",
            "The bot crashed", "Reconciliation mismatch"]


@dataclass
class Block:
    line: int
    commands: list[str]
    session: bool = False
    skip: str | None = None
    exits: set[int] = field(default_factory=lambda: {0})
    expect: list[str] = field(default_factory=list)


def parse(text: str) -> tuple[list[Block], list[str]]:
    """The console blocks with their directives, and the problems found in the page's form."""
    blocks: list[Block] = []
    problems: list[str] = []
    directive: str | None = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        found = DIRECTIVE.match(line)
        if found:
            directive = found.group(1)
        elif line.startswith("```"):
            kind, start = line[3:].strip(), i + 1
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            if kind == "console":
                blocks.append(block(start, body, directive, problems))
            elif any(b.lstrip().startswith(("$ ", "tradewarden ")) for b in body):
                problems.append(f"line {start}: a command outside a ```console block (```{kind})")
            directive = None
        elif line:
            directive = None  # a directive belongs to the block right after it
        i += 1
    return blocks, problems


def block(line: int, body: list[str], directive: str | None, problems: list[str]) -> Block:
    found = Block(line, [b[2:].strip() for b in body if b.startswith("$ ")])
    if not found.commands:
        problems.append(f"line {line}: a console block without a `$ ` command")
    for part in (p.strip() for p in (directive or "").split(";") if p.strip()):
        if part == "session":
            found.session = True
        elif part.startswith("skip"):
            found.skip = part[4:].strip(" ()") or ""
            if not found.skip:
                problems.append(f"line {line}: skip without a reason")
        elif part.startswith("exit "):
            found.exits = {int(code) for code in part[5:].split()}
            if 2 in found.exits:
                problems.append(f"line {line}: exit 2 (bad input) is never an expected outcome")
        elif part.startswith("expect "):
            found.expect.append(part[7:].strip().strip('"'))
        else:
            problems.append(f"line {line}: unknown directive {part!r}")
    return found


def test_the_runbook_has_its_sections_and_every_command_in_a_console_block() -> None:
    text = RUNBOOK.read_text()
    headings = re.findall(r"^#{2,3} (.+)$", text, flags=re.MULTILINE)
    assert [h for h in headings if h in SECTIONS] == SECTIONS
    assert all(t in headings for t in TROUBLES), headings
    blocks, problems = parse(text)
    assert not problems, problems
    assert [b for b in blocks if b.session] and len([b for b in blocks if b.session]) == 1
    skipped = [c for b in blocks if b.skip is not None for c in b.commands]
    ran = [c for b in blocks if b.skip is None for c in b.commands]
    assert len(skipped) <= len(ran) // 4, skipped  # sparingly
    for needed in ("kill-switch on", "kill-switch off", "emergency-stop", "status", "report daily",
                   "report weekly", "report period", "optimize", "backup", "restore"):
        assert any(c.startswith(f"tradewarden {needed}") for c in ran), needed


def test_the_skipped_commands_options_still_parse() -> None:
    """What cannot run here is at least held to the commands and options that exist."""
    from typer.core import TyperGroup

    root = typer.main.get_command(app)
    blocks, _ = parse(RUNBOOK.read_text())
    for command in (c for b in blocks if b.skip is not None for c in b.commands):
        words = shlex.split(command)
        if words[0] != "tradewarden":
            continue
        ctx = root.make_context("tradewarden", words[1:])
        cmd = root
        while isinstance(cmd, TyperGroup):  # typer's own copy of click's Group
            args = [*ctx._protected_args, *ctx.args]
            name, sub, rest = cmd.resolve_command(ctx, args)
            assert sub is not None, command
            ctx = sub.make_context(name or "", rest, parent=ctx)  # raises on an unknown option
            cmd = sub


def shim(bin_dir: Path) -> None:
    """``tradewarden`` on PATH: this checkout's, with the interpreter running the tests."""
    bin_dir.mkdir()
    exe = bin_dir / "tradewarden"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tradewarden.cli.main "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


def workdir(tmp_path: Path) -> Path:
    """The bot's working and data directory as the runbook assumes it."""
    home = tmp_path / "tw"
    home.mkdir()
    params_file(home / "params.json", 3, 8)
    (home / "candles").mkdir()
    shutil.copy(sample_1m_path(), home / "candles" / sample_1m_path().name)
    (home / "bot.toml").write_text(f"""\
data_dir = "{home}"

[strategy]
name = "sma_cross"
params_file = "params.json"

[market]
symbol = "BTC/USDT"
timeframe = "5m"

[runtime]
sim_speed = 300
sim_fire_drill = false
warmup_bars = 60
publish_every_s = 0.5
kill_switch_poll_s = 0.2
heartbeat_s = 2
""")
    return home


@pytest.mark.slow
def test_the_runbooks_commands_run_against_a_paper_session(tmp_path: Path) -> None:
    blocks, _ = parse(RUNBOOK.read_text())
    home = workdir(tmp_path)
    shim(tmp_path / "bin")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    (session_block,) = [b for b in blocks if b.session]
    with (tmp_path / "session.log").open("wb") as log:
        bot = subprocess.Popen(["bash", "-c", f"exec {session_block.commands[0]}"], cwd=home, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    ran: list[str] = []
    applied = False
    try:
        wait_until_trading(home, env, bot, tmp_path / "session.log")
        for b in blocks:
            if b.session or b.skip is not None:
                continue
            for command in b.commands:
                done = subprocess.run(["bash", "-c", command], cwd=home, env=env, capture_output=True, text=True,
                                      timeout=600)
                output = done.stdout + done.stderr
                where = f"RUNBOOK.md line {b.line}: `{command}` exited {done.returncode}:\n{output[-3000:]}"
                assert done.returncode in b.exits, where
                assert "Traceback" not in output, where
                for text in b.expect:
                    assert text in output, f"{where}\n(expected {text!r})"
                assert bot.poll() is None, f"the bot stopped during `{command}`:\n{log_tail(tmp_path)}"
                ran.append(command)
                applied = applied or (command.endswith("--apply") and "(written to params.json)" in output)
        if applied:  # the running bot reloads what `optimize --apply` wrote (its parameter watch polls every 5 s)
            deadline = time.monotonic() + 60
            while "ParamsReloaded" not in event_types(home) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert "ParamsReloaded" in event_types(home), log_tail(tmp_path)
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=120) == 0, log_tail(tmp_path)
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
    assert len(ran) >= 30
    # what the commands did shows in the bot's own record
    types = event_types(home)
    assert types.count("KillSwitchActivated") >= 2 and types.count("KillSwitchDeactivated") >= 2
    assert (home / "restored" / "tradewarden.db").is_file()


def event_types(home: Path) -> list[str]:
    lines = (home / "runs" / "latest" / "events.jsonl").read_text().splitlines()
    return [json.loads(line)["type"] for line in lines if line.endswith("}")]


def log_tail(tmp_path: Path) -> str:
    return (tmp_path / "session.log").read_text(errors="replace")[-3000:]


def wait_until_trading(home: Path, env: dict[str, str], bot: subprocess.Popen[bytes], log: Path) -> None:
    """Until the bot published itself as running and holds a position (so the emergency stop has one)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert bot.poll() is None, f"the bot exited with {bot.returncode}:\n{log.read_text()[-3000:]}"
        if (home / "tradewarden.db").exists():
            done = subprocess.run(["bash", "-c", "tradewarden status --config bot.toml --json"], cwd=home, env=env,
                                  capture_output=True, text=True, timeout=120)
            report = json.loads(done.stdout) if done.stdout.strip() else {"bots": []}
            bots = report["bots"]
            if bots and bots[0]["bot"]["state"] == "running" and any(float(p["qty"]) for p in bots[0]["symbols"]):
                return
        time.sleep(0.5)
    pytest.fail(f"the bot did not start trading:\n{log.read_text()[-3000:]}")
