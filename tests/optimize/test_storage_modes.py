"""A study's SQLite storage (``studies.db``, its write-ahead log) is created at mode 0600, like the other
private files, whatever the umask; an existing readable one is tightened when a study opens it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from tradewarden.optimize.study import make_storage


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes(tmp_path: Path) -> dict[str, str]:
    return {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.glob("studies.db*")}


@pytest.mark.parametrize("as_url", [False, True])
def test_a_new_study_file_is_private(tmp_path: Path, loose_umask: None, as_url: bool) -> None:
    path = tmp_path / "studies.db"
    storage = make_storage(f"sqlite:///{path}" if as_url else str(path))
    study = optuna.create_study(study_name="s", storage=storage)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    found = modes(tmp_path)
    assert "studies.db" in found
    assert found == dict.fromkeys(found, "0o600")


def test_an_existing_readable_study_file_is_tightened(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "studies.db"
    make_storage(str(path))
    path.chmod(0o644)
    make_storage(str(path))
    assert modes(tmp_path)["studies.db"] == "0o600"
