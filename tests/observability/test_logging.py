"""setup_logging: JSON lines in the file, readable lines on the terminal, tracebacks, all free of secrets."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import orjson
import pytest

from tradewarden.observability import setup_logging

pytestmark = pytest.mark.usefixtures("restore_logging")


def file_lines(path: Path) -> list[dict[str, object]]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_file_gets_json_lines_with_fields_and_no_secrets(tmp_path: Path, canaries: tuple[str, ...]) -> None:
    log = tmp_path / "logs" / "tw.jsonl"
    setup_logging("INFO", file=log, console=False)
    logger = logging.getLogger("tradewarden.test")
    logger.info("connecting with key %s", canaries[0], extra={"exchange": "binance", "secret": canaries[1]})
    logger.debug("not written at INFO")
    try:
        raise RuntimeError(f"exchange said: invalid token {canaries[2]}")
    except RuntimeError:
        logger.exception("order failed (password %s)", canaries[3])
    raw = log.read_text()
    for canary in canaries:
        assert canary not in raw
    first, second = file_lines(log)
    assert first["level"] == "INFO" and first["logger"] == "tradewarden.test"
    assert first["message"] == "connecting with key ***"
    assert first["exchange"] == "binance" and first["secret"] == "***"
    assert isinstance(first["ts"], int) and str(first["time"]).endswith("Z")
    assert second["level"] == "ERROR" and second["message"] == "order failed (password ***)"
    assert "RuntimeError: exchange said: invalid token ***" in str(second["exc"])
    assert "Traceback (most recent call last)" in str(second["exc"])


def test_terminal_gets_readable_scrubbed_lines(capsys: pytest.CaptureFixture[str],
                                               canaries: tuple[str, ...]) -> None:
    setup_logging("INFO", file=None, console=True)
    log = logging.getLogger("tradewarden.console")
    log.warning("balance check with %s", canaries[0])
    try:
        raise ValueError(f"bad secret {canaries[1]}")
    except ValueError:
        log.exception("boom")
    err = capsys.readouterr().err
    assert "balance check with ***" in err and "WARNING" in err
    assert "ValueError: bad secret ***" in err
    assert not err.lstrip().startswith("{")  # readable, not JSON
    for canary in canaries:
        assert canary not in err


def test_records_from_third_party_loggers_are_scrubbed_too(tmp_path: Path, canaries: tuple[str, ...]) -> None:
    log = tmp_path / "tw.jsonl"
    setup_logging("DEBUG", file=log, console=False)
    logging.getLogger("ccxt.base.exchange").debug("GET https://x.test/?apiKey=%s", canaries[0])
    assert file_lines(log)[0]["message"] == "GET https://x.test/?apiKey=***"


def test_uncaught_exception_hook_prints_scrubbed_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            canaries: tuple[str, ...]) -> None:
    log = tmp_path / "tw.jsonl"
    setup_logging("INFO", file=log, console=True)
    try:
        raise ConnectionError(f"auth header Bearer {canaries[0]}xyz and {canaries[3]}")
    except ConnectionError:
        sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ConnectionError: auth header Bearer ***" in err
    crash = file_lines(log)
    assert crash[0]["logger"] == "tradewarden.crash" and crash[0]["level"] == "CRITICAL"
    assert "ConnectionError" in str(crash[0]["exc"])
    for canary in canaries:
        assert canary not in err and canary not in log.read_text()


def test_thread_exceptions_are_scrubbed(capsys: pytest.CaptureFixture[str],
                                        canaries: tuple[str, ...]) -> None:
    setup_logging("INFO", file=None, console=False)

    def fail() -> None:
        raise KeyError(f"missing {canaries[1]}")

    thread = threading.Thread(target=fail)
    thread.start()
    thread.join()
    err = capsys.readouterr().err
    assert "KeyError" in err and "missing ***" in err and canaries[1] not in err


def test_a_real_crash_in_a_process_is_scrubbed(tmp_path: Path) -> None:
    canary = "ProcessCanarySecret-5150"
    script = textwrap.dedent(f"""
        from pathlib import Path
        from tradewarden.observability import setup_logging
        setup_logging("INFO", file=Path({str(tmp_path / 'tw.jsonl')!r}), console=True)
        raise RuntimeError("could not sign with {canary}")
    """)
    env = {"PATH": "/usr/bin:/bin", "EXCHANGE_API_SECRET": canary, "HOME": str(tmp_path),
           "PYTHONPATH": os.environ["PYTHONPATH"]}   # the checkout's src (tests/conftest.py)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 1
    assert "RuntimeError: could not sign with ***" in result.stderr
    assert canary not in result.stderr and canary not in (tmp_path / "tw.jsonl").read_text()


def test_setup_twice_does_not_double_handlers(tmp_path: Path) -> None:
    log = tmp_path / "tw.jsonl"
    setup_logging("INFO", file=log, console=True)
    setup_logging("WARNING", file=log, console=True)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_tradewarden_handler", False)]
    assert len(ours) == 2
    logging.getLogger("x").warning("once")
    assert [e["message"] for e in file_lines(log)] == ["once"]
    assert logging.getLogger().level == logging.WARNING


def test_unknown_level_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        setup_logging("LOUD", console=False)


def test_the_log_file_rotates_at_the_configured_size_keeps_the_count_and_stays_owner_only(
        tmp_path: Path) -> None:
    from tradewarden.config import load_config

    cfg = load_config(None, {"data_dir": str(tmp_path / "data"), "logging.max_bytes": "2000",
                             "logging.backups": "2"}, env={})
    old_umask = os.umask(0o022)
    try:
        setup_logging("INFO", cfg.log_file, console=False, max_bytes=cfg.logging.max_bytes,
                      backups=cfg.logging.backups)
        logger = logging.getLogger("tradewarden.test.rotation")
        for n in range(100):  # ~150 bytes a line: ~15 000 bytes, enough for several rotations
            logger.info("line %03d %s", n, "x" * 40)
    finally:
        os.umask(old_umask)
    logs = cfg.log_file.parent
    assert sorted(p.name for p in logs.iterdir()) == ["tradewarden.jsonl", "tradewarden.jsonl.1",
                                                      "tradewarden.jsonl.2"]
    for path in logs.iterdir():
        assert path.stat().st_size <= 2000
        assert path.stat().st_mode & 0o777 == 0o600, path
    # the newest lines are in the current file, the ones before them in .1, then .2; the oldest were dropped
    numbers = [int(str(line["message"]).split()[1]) for name in ("tradewarden.jsonl.2", "tradewarden.jsonl.1",
                                                                 "tradewarden.jsonl")
               for line in file_lines(logs / name)]
    assert numbers == list(range(100 - len(numbers), 100)) and numbers[0] > 0
