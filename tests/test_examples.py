"""The shipped examples load and run as the README uses them."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from pydantic import BaseModel
from typer.testing import CliRunner

from tradewarden.cli.main import app
from tradewarden.config.models import AppConfig

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_every_example_the_readme_names_is_shipped() -> None:
    readme = (REPO / "README.md").read_text()
    named = set(re.findall(r"examples/[\w.-]+", readme))
    assert {"examples/my.toml", "examples/risk.toml"} <= named
    for path in named:
        assert (REPO / path).is_file(), path
    # no config file the user does not have
    assert not re.search(r"--(?:risk-)?config (?!examples/)\S+\.toml", readme)


def test_my_toml_comments_every_section_of_the_config() -> None:
    text = (EXAMPLES / "my.toml").read_text()
    tables = set(re.findall(r"^#?\s*\[([a-z_]+)[].]", text, flags=re.MULTILINE))
    sections = {name for name, field in AppConfig.model_fields.items()
                if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)}
    sections.add("risk")
    assert sections <= tables, f"sections missing from examples/my.toml: {sorted(sections - tables)}"
    assert "data_dir" in text


def test_config_show_accepts_my_toml() -> None:
    code, out = invoke("config", "show", "--config", str(EXAMPLES / "my.toml"), "--json")
    assert code == 0, out
    shown = json.loads(out)
    assert shown["config"]["exchange"]["id"] == "binance"
    assert shown["config"]["risk"]["active_stage"] == "stage0"
    assert re.fullmatch(r"[0-9a-f]{64}", shown["config_hash"])


def test_a_backtest_runs_with_my_toml(tmp_path: Path) -> None:
    code, out = invoke("backtest", "--config", str(EXAMPLES / "my.toml"), "--out", str(tmp_path / "run"))
    assert code == 0, out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["metrics"]["trade_count"]["value"] > 0


def test_a_backtest_runs_through_the_gate_of_risk_toml(tmp_path: Path) -> None:
    assert tomllib.loads((EXAMPLES / "risk.toml").read_text())["breakers"]
    code, out = invoke("backtest", "--risk-config", str(EXAMPLES / "risk.toml"), "--out", str(tmp_path / "run"))
    assert code == 0, out
    assert "per_candle path" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["metrics"]["trade_count"]["value"] > 0
    assert "risk_denials" in summary["metrics"]
