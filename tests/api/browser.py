"""Helpers of the browser tests: Debian's Chromium driven by Playwright, the app served by uvicorn on a free
loopback port, and a page that records every console error and uncaught exception."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DEADLINE_MS = 60_000  # how long to wait for something to appear: a hang, not a timing, fails the test


def need_chromium() -> None:
    # .ci/run installs Debian's chromium; a developer machine without it skips (visibly, with -ra)
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("no /usr/bin/chromium (apt-get install chromium; .ci/run does)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app on a loopback socket of its own, served by uvicorn in a thread; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        started.wait(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


class Console:
    """Console errors and uncaught page errors of every page opened in a context."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: object) -> None:
        from playwright.sync_api import ConsoleMessage, Error, Page

        assert isinstance(page, Page)

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                self.errors.append(f"{page.url}: {msg.text}")

        def on_error(err: Error) -> None:
            self.errors.append(f"{page.url}: uncaught {err.message}")

        page.on("console", on_console)
        page.on("pageerror", on_error)
