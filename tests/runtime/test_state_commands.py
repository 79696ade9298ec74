"""A running paper session (built-in simulator, through ccxt) and the commands that act on its state: the kill
switch reaches the bot's database through its config and is acknowledged; the audit trail is the account's,
continued across runs and checked against the database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app

pytestmark = pytest.mark.slow

ACCOUNT = "paper:simulator:BTC/USDT:sma_cross"
FAST = ["--set", "runtime.sim_speed=3000", "--set", "runtime.sim_fire_drill=false",
        "--set", "strategy.name=sma_cross", "--set", "strategy.params.fast=3", "--set", "strategy.params.slow=8"]


def clean_env(tmp_path: Path) -> dict[str, str]:
    """No TRADEWARDEN_* from outside; the default data directory (what a command without the config would
    use) is a temporary one that must stay empty."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


def events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def wait_for(what: str, check: Any, proc: subprocess.Popen[bytes], deadline_s: float = 240.0) -> None:
    """Until ``check()`` holds; fails if the bot exits first or the deadline passes (a hang, not a timing)."""
    end = time.monotonic() + deadline_s
    while not check():
        assert proc.poll() is None, f"the bot exited ({proc.returncode}) before {what}"
        assert time.monotonic() < end, f"no {what} within {deadline_s} s"
        time.sleep(0.2)


def test_kill_switch_with_the_bots_config_is_acknowledged_and_halts_it(tmp_path: Path) -> None:
    bot_dir, db_file = tmp_path / "bot-data", tmp_path / "db" / "bot.db"
    db_file.parent.mkdir()
    cfg = tmp_path / "bot.toml"
    # data_dir and database.url come from the config file only: the defaults point elsewhere
    cfg.write_text(f'data_dir = "{bot_dir}"\n[database]\nurl = "sqlite:///{db_file}"\n'
                   '[strategy]\nname = "sma_cross"\n[strategy.params]\nfast = 3\nslow = 8\n'
                   '[runtime]\nsim_speed = 600\nsim_fire_drill = false\nwarmup_bars = 30\n')
    env = clean_env(tmp_path)
    run_dir = tmp_path / "run"
    log = (tmp_path / "bot.log").open("wb")
    bot = subprocess.Popen([sys.executable, "-m", "tradewarden.cli.main", "run", "--mode", "paper", "--config",
                            str(cfg), "--out", str(run_dir)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for("warm-up", lambda: any(e["type"] == "WarmUpDone" for e in events(run_dir / "events.jsonl")), bot)
        done = subprocess.run([sys.executable, "-m", "tradewarden.cli.main", "kill-switch", "on", "--config",
                               str(cfg), "--reason", "fault drill", "--by", "alice", "--wait", "30"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"acknowledged by {ACCOUNT} on {socket.gethostname()} pid {bot.pid} at " in done.stdout

        def denied() -> bool:  # the strategy wanted to enter again and the gate said no
            return any(e["type"] == "OrderDenied" and e["reason_code"] == "KILL_SWITCH"
                       for e in events(run_dir / "events.jsonl"))

        wait_for("entry denied by the kill switch", denied, bot)
    finally:
        bot.send_signal(signal.SIGTERM)
        code = bot.wait(timeout=120)
        log.close()
    assert code == 0, (tmp_path / "bot.log").read_text()
    evs = events(run_dir / "events.jsonl")
    types = [e["type"] for e in evs]
    halted_at = types.index("KillSwitchActivated")
    assert evs[halted_at]["actor"] == "alice" and evs[halted_at]["reason"] == "fault drill"
    assert "PositionOpened" not in types[halted_at:]  # no new position once the switch was acknowledged
    assert not (tmp_path / "xdg").exists()  # nothing went to the default data directory or database

    # the account's audit trail, in the config's data directory, says who did it; verify finds it via the config
    [trail] = (bot_dir / "audit").glob("*.jsonl")
    recs = [json.loads(line) for line in trail.read_text().splitlines()]
    action = next(r for r in recs if r["type"] == "OPERATOR_ACTION")
    assert (action["action"], action["actor"], action["detail"]["reason"]) == ("kill_switch_on", "alice",
                                                                               "fault drill")
    assert any(r["type"] == "KILL_SWITCH_ACTIVATED" for r in recs)
    result = CliRunner().invoke(app, ["audit", "verify", "--config", str(cfg)], env=env)
    assert result.exit_code == 0 and f"OK, {len(recs)} records" in result.output, result.output


def test_the_audit_trail_of_an_account_continues_across_runs(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in clean_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in [k for k in os.environ if k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))]:
        monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("TRADEWARDEN_DATA_DIR", str(data_dir))
    runner = CliRunner()
    for n in (1, 2):
        result = runner.invoke(app, ["run", "--mode", "paper", "--duration", "3h", "--out",
                                     str(tmp_path / f"run{n}"), *FAST])
        assert result.exit_code == 0, result.output
        assert not (tmp_path / f"run{n}" / "audit.jsonl").exists()
        if n == 1:
            [trail] = (data_dir / "audit").glob("*.jsonl")
            first = len(trail.read_text().splitlines())
            assert first > 0
    assert list((data_dir / "audit").glob("*.jsonl")) == [trail]
    recs = [json.loads(line) for line in trail.read_text().splitlines()]
    assert len(recs) > first  # the second run appended to the same chain
    assert recs[first]["seq"] == first + 1 and recs[first]["prev_hash"] == recs[first - 1]["hash"]
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0 and f"OK, {len(recs)} records" in result.output
    assert f"the database recorded {len(recs)}" in result.output

    # a trail cut short behind the bot's back: the next run refuses to continue it (exit 3, an event saying why)
    trail.write_text("".join(line + "\n" for line in trail.read_text().splitlines()[:-2]))
    result = runner.invoke(app, ["run", "--mode", "paper", "--duration", "3h", "--out", str(tmp_path / "run3"),
                                 *FAST])
    assert result.exit_code == 3 and "CUT" in result.output, result.output
    refused = [e for e in events(tmp_path / "run3" / "events.jsonl") if e["type"] == "AUDIT_TRAIL_REFUSED"]
    assert refused and refused[0]["account"] == ACCOUNT
    assert len(trail.read_text().splitlines()) == len(recs) - 2  # left as it was, as evidence
