"""``tradewarden sim``: help, clear errors for bad input, and a real start/stop with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app

runner = CliRunner()


def test_help_lists_the_options() -> None:
    result = runner.invoke(app, ["sim", "--help"])
    assert result.exit_code == 0
    for option in ("--data", "--symbols", "--speed", "--port", "--seed", "--balances", "--scenario",
                   "--key-can-withdraw"):
        assert option in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--balances", "USDT=lots"], "--balances: amount 'lots' for USDT is not a number"),
        (["--symbols", "BTCUSDT"], "'BTCUSDT' is not of the form BASE/QUOTE"),
        (["--data", "/no/such/file.csv"], "file not found"),
        (["--speed", "-1"], "--speed must not be negative"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["sim", "--port", "0", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_serves_prints_a_ccxt_config_and_stops_on_sigterm() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradewarden.cli.main", "sim", "--port", str(port), "--speed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sim/time", timeout=1) as resp:
                    assert json.loads(resp.read())["now_ms"] > 0
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, (
                    proc.stderr.read() if proc.stderr else ""
                )
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/api/v3" in out and '"fetchMarkets"' in out and "simulator stopped" in out


@pytest.mark.slow
@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])
def test_a_host_beyond_loopback_warns_that_the_control_api_is_unauthenticated(host: str, warned: bool) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradewarden.cli.main", "sim", "--host", host, "--port", str(port), "--speed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # serving: 0.0.0.0 answers on loopback too
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sim/time", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    warning = f"warning: listening on {host}: the control API (/_sim/...) has no authentication"
    assert (warning in err) is warned, err
