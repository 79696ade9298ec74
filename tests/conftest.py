"""Shared fixtures: paths to the shared real-candle data and small helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("shared data directory not present beside the repository")
    return SHARED_DATA


class MemoryEvents:
    """An EventSink that keeps events in a list (type, ts, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, dict[str, object]]] = []

    def emit(self, type_: str, ts: int, **fields: object) -> None:
        self.events.append((type_, ts, fields))

    def of(self, type_: str) -> list[dict[str, object]]:
        return [f for t, _, f in self.events if t == type_]


@pytest.fixture
def events() -> MemoryEvents:
    return MemoryEvents()
