"""The deployment files in deploy/: the systemd unit (checked by systemd-analyze when present, and parsed) and
the Dockerfile (parsed: there is no Docker engine here, so its promises are checked statically, and the exact
set of files it copies is built into a wheel the way ``pip install`` in the image would)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tradewarden.observability.scrub import SECRET_NAME_PARTS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "tradewarden.service"
DOCKERFILE = DEPLOY / "Dockerfile"


# --- systemd unit ------------------------------------------------------------------------------------------------

def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as ordered (key, value) lists (keys may repeat, as systemd allows)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path}: setting outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not key=value: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def last(entries: list[tuple[str, str]], key: str) -> str:
    values = [v for k, v in entries if k == key]
    assert values, f"{key} missing"
    return values[-1]


def test_unit_has_the_operational_settings() -> None:
    service = parse_unit(UNIT)["Service"]
    exec_start = last(service, "ExecStart").split()
    assert exec_start[1:3] == ["run", "--mode"]
    assert exec_start[exec_start.index("--config") + 1] == "/etc/tradewarden/config.toml"
    assert exec_start[exec_start.index("--live-confirm") + 1] == "${TRADEWARDEN_CONFIRM}"
    assert last(service, "EnvironmentFile") == "/etc/tradewarden/env"  # no "-": a missing secrets file is an error
    assert last(service, "KillSignal") == "SIGTERM"
    assert int(last(service, "TimeoutStopSec")) >= 30
    assert last(service, "Restart") == "on-failure"
    assert last(service, "User") not in ("root", "0")
    assert "2" in last(service, "RestartPreventExitStatus").split()  # bad config: restarting cannot help


def test_unit_defaults_to_paper_and_arms_live_only_from_the_env_file() -> None:
    service = parse_unit(UNIT)["Service"]
    env = dict(v.split("=", 1) for k, v in service if k == "Environment")
    assert env["TRADEWARDEN_MODE"] == "paper"
    assert env["TRADEWARDEN_CONFIRM"] == ""
    assert "LIVE_TRADING" not in env
    # the unit itself carries no secret; the env file does
    assert not [name for name in env if any(part in name.upper() for part in SECRET_NAME_PARTS)]


def test_unit_is_hardened_to_its_data_directory() -> None:
    service = dict(parse_unit(UNIT)["Service"])
    expected = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "PrivateTmp": "yes", "ProtectHome": "yes", "StateDirectory": "tradewarden", "UMask": "0077",
        "WorkingDirectory": "/var/lib/tradewarden", "CapabilityBoundingSet": "",
    }
    assert {k: service.get(k) for k in expected} == expected
    env = dict(v.split("=", 1) for k, v in parse_unit(UNIT)["Service"] if k == "Environment")
    # its data directory, and the machine-wide account locks every bot of the machine shares
    assert service["ReadWritePaths"].split() == [env["TRADEWARDEN_DATA_DIR"], "/run/lock"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    # verify insists the ExecStart binary exists: point it at this environment's tradewarden
    binary = shutil.which("tradewarden") or str(Path(sys.executable).parent / "tradewarden")
    assert Path(binary).exists(), "the tradewarden console script is not installed"
    unit = tmp_path / "tradewarden.service"
    unit.write_text(UNIT.read_text().replace("/opt/tradewarden/venv/bin/tradewarden", binary))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and unparsable values; it only says so on stderr
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if "tradewarden.service" in line]
    assert result.returncode == 0 and complaints == [], result.stdout + result.stderr


# --- Dockerfile --------------------------------------------------------------------------------------------------

def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        instruction, _, args = full.partition(" ")
        instructions.append((instruction.upper(), args.strip()))
    assert not pending, f"{path}: ends inside a continued line"
    return instructions


def values(instructions: list[tuple[str, str]], name: str) -> list[str]:
    return [args for instr, args in instructions if instr == name]


def test_dockerfile_base_user_signal_and_entrypoint() -> None:
    ins = parse_dockerfile(DOCKERFILE)
    assert ins[0] == ("FROM", "python:3.11-slim")
    assert len(values(ins, "FROM")) == 1
    user = values(ins, "USER")[-1].split(":")[0]
    assert user not in ("root", "0")
    # everything after the last USER runs as that user: only metadata may follow it
    after_user = [instr for instr, _ in ins[[i for i, (n, _) in enumerate(ins) if n == "USER"][-1]:]]
    assert set(after_user) <= {"USER", "STOPSIGNAL", "ENTRYPOINT", "CMD", "WORKDIR", "VOLUME", "EXPOSE", "LABEL"}
    assert values(ins, "STOPSIGNAL") == ["SIGTERM"]
    assert values(ins, "ENTRYPOINT") == ['["tradewarden"]']  # exec form: the bot itself receives SIGTERM
    assert values(ins, "CMD") == ['["run", "--mode", "paper"]']


def test_dockerfile_keeps_state_on_a_volume() -> None:
    ins = parse_dockerfile(DOCKERFILE)
    env = " ".join(values(ins, "ENV"))
    assert "TRADEWARDEN_DATA_DIR=/var/lib/tradewarden" in env
    assert values(ins, "VOLUME") == ['["/var/lib/tradewarden"]']
    assert values(ins, "WORKDIR")[-1] == "/var/lib/tradewarden"  # run directories land on the volume too
    assert any("pip install /tmp/build" in r for r in values(ins, "RUN"))


def test_dockerfile_bakes_in_no_secret() -> None:
    ins = parse_dockerfile(DOCKERFILE)
    names = [item.split("=", 1)[0] for instr, args in ins if instr in ("ENV", "ARG") for item in args.split()]
    assert names and not [n for n in names if any(part in n.upper() for part in SECRET_NAME_PARTS)]
    assert not [n for n in names if n.upper() in ("LIVE_TRADING", "TRADEWARDEN_CONFIRM")]
    sources = [src for instr, args in ins if instr in ("COPY", "ADD") for src in args.split()[:-1]
               if not src.startswith("--")]
    assert sorted(sources) == ["README.md", "pyproject.toml", "src"]  # an explicit list, never "."
    for src in sources:
        assert (ROOT / src).exists(), f"the Dockerfile copies {src}, which is not in the repository"


@pytest.mark.slow
def test_the_files_the_image_copies_build_a_working_wheel(tmp_path: Path) -> None:
    """What ``pip install /tmp/build`` sees in the image, built the same way (an isolated PEP 517 build that fetches
    the build backend from the configured package index)."""
    build = tmp_path / "build"
    build.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, build / name)
    shutil.copytree(ROOT / "src", build / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
         str(tmp_path / "dist"), str(build)], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("tradewarden-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert "tradewarden = tradewarden.cli.main:main" in entry_points
    assert "tradewarden/runtime/scheduler.py" in names
    assert any(n.startswith("tradewarden/data/sample/") and n.endswith(".csv") for n in names)  # paper needs it
