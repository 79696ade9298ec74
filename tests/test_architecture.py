"""docs/ARCHITECTURE.md against the code: every package documented, every import along the documented
dependency direction, no cycle, and no ccxt on the backtest's path."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "tradewarden"
DOC = REPO / "docs" / "ARCHITECTURE.md"


def packages() -> set[str]:
    return {p.parent.name for p in PACKAGE.glob("*/__init__.py")}


def documented() -> dict[str, set[str]]:
    """package -> the packages it may import, from the doc's table."""
    rows = re.findall(r"^\| `(\w+)` \|[^|]*\| ([^|]*) \|$", DOC.read_text(), flags=re.MULTILINE)
    everything = packages()
    allowed: dict[str, set[str]] = {}
    for name, may in rows:
        may = may.strip()
        if may == "nothing of ours":
            allowed[name] = set()
        elif may == "every package":
            allowed[name] = everything - {name}
        elif may == "every package above except `cli`":
            allowed[name] = everything - {name, "cli"}
        else:
            allowed[name] = set(re.findall(r"`(\w+)`", may))
    return allowed


def imports() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the files importing it (imports inside functions count too)."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) < 2:
            continue   # tradewarden/__init__.py and the kernel cache set-up belong to no package
        owner = rel.parts[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "tradewarden" and len(parts) > 1 and parts[1] in packages() and parts[1] != owner:
                    found.setdefault(owner, {}).setdefault(parts[1], set()).add(str(rel))
    return found


def test_every_package_is_in_the_table() -> None:
    table = documented()
    assert set(table) == packages(), f"undocumented: {packages() - set(table)}; gone: {set(table) - packages()}"


def test_every_import_follows_the_documented_direction() -> None:
    table = documented()
    crossing = [f"{owner} imports {target} ({', '.join(sorted(files))})"
                for owner, targets in imports().items() for target, files in targets.items()
                if target not in table[owner]]
    assert not crossing, "imports docs/ARCHITECTURE.md does not allow:\n" + "\n".join(crossing)


def test_the_documented_direction_has_no_cycle() -> None:
    try:
        order = list(TopologicalSorter(documented()).static_order())
    except CycleError as exc:
        raise AssertionError(f"docs/ARCHITECTURE.md allows a cycle: {exc.args[1]}") from None
    assert order.index("domain") < order.index("engine") < order.index("backtest") < order.index("cli")


def test_a_backtest_never_loads_ccxt(tmp_path: Path) -> None:
    script = ("import sys\nfrom tradewarden.cli.main import app\n"
              "from typer.testing import CliRunner\n"
              f"r = CliRunner().invoke(app, ['backtest', '--out', {str(tmp_path / 'run')!r}])\n"
              "assert r.exit_code == 0, r.output\n"
              "from tradewarden._ccxt_lazy import loaded\n"
              "print(loaded())\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
