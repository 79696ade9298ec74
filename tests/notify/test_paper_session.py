"""End to end: a paper session (a subprocess, the built-in simulator) with ``notify`` pointed at the fake Bot API
says it started; ``/kill`` from the allowed chat turns the kill switch on through the database, the bot halts
and acknowledges, and the kill-switch alert names the Telegram user; a SIGTERM brings "bot stopped"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .fakes import FakeTelegram

pytestmark = pytest.mark.slow

CHAT = 111
ARGS = ["--mode", "paper", "--duration", "10d", "--set", "runtime.sim_speed=300",
        "--set", "runtime.sim_fire_drill=false", "--set", "runtime.publish_every_s=0.3",
        "--set", "runtime.kill_switch_poll_s=0.2",
        "--set", "strategy.name=sma_cross", "--set", "strategy.params.fast=3", "--set", "strategy.params.slow=8",
        "--set", "runtime.warmup_bars=30"]


def wait_for_text(telegram: FakeTelegram, needle: str, proc: subprocess.Popen[bytes], log: Path,
                  timeout_s: float = 180.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = next((t for t in telegram.texts(CHAT) if needle in t), None)
        if found is not None:
            return found
        if proc.poll() is not None and needle != "bot stopped":
            pytest.fail(f"the session exited with {proc.returncode} before {needle!r}:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"no message with {needle!r}; got {telegram.texts(CHAT)}\n{log.read_text()[-3000:]}")


def test_a_paper_session_tells_telegram_and_obeys_kill(tmp_path: Path, telegram: FakeTelegram) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "LIVE_TRADING"))}
    env |= {"TRADEWARDEN_DATA_DIR": str(tmp_path / "data"), "TRADEWARDEN_NOTIFY__TELEGRAM__TOKEN": telegram.token,
            "TRADEWARDEN_NOTIFY__TELEGRAM__CHAT_IDS": str(CHAT), "TRADEWARDEN_NOTIFY__TELEGRAM__API_URL": telegram.url}
    log = tmp_path / "session.log"
    cmd = [sys.executable, "-m", "tradewarden.cli.main", "run", *ARGS, "--out", str(tmp_path / "run")]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        started = wait_for_text(telegram, "bot started", proc, log)
        assert "paper, sma_cross on BTC/USDT" in started and "WARNING" in started
        telegram.say(CHAT, "/kill e2e drill", user_id=42, username="ops")
        reply = wait_for_text(telegram, "kill switch ON (by", proc, log)
        assert "acknowledged by paper:" in reply  # the running bot applied it
        alert = wait_for_text(telegram, "KILL SWITCH ON by", proc, log)
        assert "CRITICAL" in alert and "KILL SWITCH ON by telegram:@ops(42): e2e drill" in alert
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0, log.read_text()[-3000:]
        stopped = wait_for_text(telegram, "bot stopped", proc, log, timeout_s=5)
        assert "signal SIGTERM" in stopped
        assert telegram.token not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
