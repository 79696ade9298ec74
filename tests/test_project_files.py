"""The files around the code that a new user or CI relies on: the pinned CI dependency set and the Makefile."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def pins() -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in enumerate((REPO / ".ci" / "constraints.txt").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line.strip())
        assert m, f".ci/constraints.txt line {n} is not name==version: {line!r}"
        out[canonicalize_name(m[1])] = m[2]
    return out


def test_ci_installs_the_readme_test_command_with_the_pinned_set() -> None:
    script = (REPO / ".ci" / "run").read_text()
    assert 'pip install -c .ci/constraints.txt ".[test]" && python -m pytest' in script


def test_the_pins_cover_and_satisfy_every_declared_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = pins()
    assert "tradewarden" not in pinned
    for text in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pinned, f"{text} is not pinned in .ci/constraints.txt (run .ci/freeze-constraints)"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"the pin {name}=={pinned[name]} does not satisfy {text} (run .ci/freeze-constraints)")


MAKE_TARGETS = {
    "install": "pip install .",
    "test": 'pip install ".[test]" && python -m pytest',
    "lint": "ruff check src tests benchmarks && mypy",
    "run-paper": "tradewarden run --mode paper --duration 10h",
    "docker-build": "docker build -f deploy/Dockerfile -t tradewarden .",
}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("target", "command"), MAKE_TARGETS.items())
def test_each_make_target_runs_the_documented_command(target: str, command: str) -> None:
    docs = (REPO / "README.md").read_text() + (REPO / "deploy" / "README.md").read_text()
    assert command in docs, f"{command!r} is not in README.md or deploy/README.md"
    out = subprocess.run(["make", "-n", "-s", target], cwd=REPO, capture_output=True, text=True, check=True,
                         timeout=60).stdout
    assert out.strip() == command


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_clean_removes_only_build_output_and_caches() -> None:
    out = subprocess.run(["make", "-n", "-s", "clean"], cwd=REPO, capture_output=True, text=True, check=True,
                         timeout=60).stdout
    assert "rm -rf" in out
    for kept in ("runs", "tradewarden.db", ".local", "src/tradewarden "):
        assert kept not in out
