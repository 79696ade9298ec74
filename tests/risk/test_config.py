"""Risk settings: defaults, clear error messages naming the field, files, stages."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tradewarden.risk import RiskConfig, RiskConfigError, load_risk_config, load_risk_config_file


def errors_of(data: object) -> list[str]:
    with pytest.raises(RiskConfigError) as info:
        load_risk_config(data)  # type: ignore[arg-type]
    return info.value.errors


def test_defaults_leave_a_plain_backtest_alone() -> None:
    cfg = load_risk_config({})
    assert cfg == RiskConfig() and load_risk_config(None) == cfg
    assert cfg.risk_per_trade_pct is None and cfg.max_daily_loss_pct is None
    assert (
        cfg.breakers.drawdown.max_drawdown_pct is None and cfg.breakers.consecutive_losses.max_losses is None
    )
    assert cfg.max_price_deviation_pct == Decimal(10) and cfg.max_orders_per_second == 10
    assert cfg.effective() is cfg


def test_unknown_setting_is_named() -> None:
    assert errors_of({"max_dayly_loss_pct": 2}) == [
        "risk.max_dayly_loss_pct: unknown setting (check the spelling; see docs/RISK.md)"
    ]


def test_bad_values_are_named_with_the_input() -> None:
    errs = errors_of({"risk_per_trade_pct": 0, "breakers": {"drawdown": {"action": "PANIC"}}})
    assert errs[0].startswith("risk.risk_per_trade_pct: Input should be greater than 0 (got 0)")
    assert errs[1].startswith("risk.breakers.drawdown.action: Input should be 'HALTED' or 'REDUCING'")


def test_not_a_table() -> None:
    assert errors_of([1, 2]) == ["risk: expected a table of settings, got list"]


def test_stage_overrides_and_validation() -> None:
    cfg = load_risk_config(
        {
            "risk_per_trade_pct": 1,
            "max_daily_loss_pct": 3,
            "stages": {"canary": {"risk_per_trade_pct": 0.1, "max_trades_per_day": 1}},
            "active_stage": "canary",
        }
    )
    eff = cfg.effective()
    assert (eff.risk_per_trade_pct, eff.max_daily_loss_pct, eff.max_trades_per_day) == (
        Decimal("0.1"),
        Decimal(3),
        1,
    )
    assert errors_of({"active_stage": "x"}) == [
        "risk.active_stage: not one of the stages (none defined) (got 'x')"
    ]
    assert errors_of({"stages": {"a": {"next_stage": "b"}}}) == [
        "risk.stages: a.next_stage 'b' is not a defined stage"
    ]


def test_the_active_stage_changes_the_config() -> None:
    stages = {"a": {}, "b": {}}
    one = load_risk_config({"stages": stages, "active_stage": "a"})
    two = load_risk_config({"stages": stages, "active_stage": "b"})
    assert one.model_dump(mode="json") != two.model_dump(mode="json")  # so the config hash differs


def test_toml_and_yaml_files(tmp_path: Path) -> None:
    toml = tmp_path / "r.toml"
    toml.write_text("max_daily_loss_pct = 2.5\n[breakers.drawdown]\nmax_drawdown_pct = 15\n")
    yml = tmp_path / "r.yml"
    yml.write_text(
        "risk:\n  max_daily_loss_pct: 2.5\n  breakers:\n    drawdown:\n      max_drawdown_pct: 15\n"
    )
    assert load_risk_config_file(toml) == load_risk_config_file(yml)
    assert load_risk_config_file(toml).max_daily_loss_pct == Decimal("2.5")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "r.toml"
    bad.write_text("max_daily_loss_pct = \n")
    with pytest.raises(RiskConfigError, match=r"r\.toml: not valid TOML"):
        load_risk_config_file(bad)
    wrong = tmp_path / "w.yaml"
    wrong.write_text("max_open_positions: -1\n")
    with pytest.raises(RiskConfigError) as info:
        load_risk_config_file(wrong)
    assert info.value.errors[0].startswith(
        f"{wrong}: risk.max_open_positions: Input should be greater than 0"
    )
    with pytest.raises(RiskConfigError, match="cannot read"):
        load_risk_config_file(tmp_path / "missing.toml")
    ini = tmp_path / "x.ini"
    ini.write_text("[risk]\n")
    with pytest.raises(RiskConfigError, match="unknown format"):
        load_risk_config_file(ini)
