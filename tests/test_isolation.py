"""The test suite runs the checkout's source and never touches the real tradewarden data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tradewarden
from tradewarden.config.models import default_data_dir as config_data_dir
from tradewarden.persistence.database import default_data_dir as store_data_dir

SRC = Path(__file__).resolve().parents[1] / "src"


def test_the_tests_import_the_source_tree() -> None:
    assert Path(tradewarden.__file__).resolve().is_relative_to(SRC)


def test_a_subprocess_imports_the_source_tree_too() -> None:
    out = subprocess.run([sys.executable, "-c", "import tradewarden; print(tradewarden.__file__)"],
                         capture_output=True, text=True, check=True, timeout=120, cwd="/")
    assert Path(out.stdout.strip()).resolve().is_relative_to(SRC), out.stdout


def test_the_default_data_directory_is_not_the_real_one(real_home: Path) -> None:
    real = (real_home / ".local" / "share" / "tradewarden").resolve()
    for default in (config_data_dir(), store_data_dir()):
        assert not default.resolve().is_relative_to(real), default
    assert "TRADEWARDEN_DATA_DIR" not in os.environ and "TRADEWARDEN_DB_URL" not in os.environ


def test_a_subprocess_has_the_same_isolated_default(real_home: Path) -> None:
    code = "from tradewarden.persistence.database import default_data_dir; print(default_data_dir())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    real = (real_home / ".local" / "share" / "tradewarden").resolve()
    assert not Path(out.stdout.strip()).resolve().is_relative_to(real), out.stdout


def test_the_numba_cache_stays_in_the_real_cache(real_home: Path) -> None:
    # compiled kernels are reused across runs; only this directory is shared with the real home
    assert not Path(os.environ["NUMBA_CACHE_DIR"]).is_relative_to(Path.home())
