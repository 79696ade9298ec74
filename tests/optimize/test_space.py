"""Parameter grids: parsed and checked against the strategy's declared types and ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.optimize.space import (
    GridError,
    grid_points,
    grid_size,
    load_grid_file,
    parse_grid,
    searched_params,
)
from tradewarden.strategies import ParamError, strategy_class

SMA = strategy_class("sma_cross")


def test_parse_grid_types_and_order() -> None:
    grid = parse_grid("fast=10, 20,30,20; slow=50,100", SMA)
    assert grid == {"fast": [10, 20, 30], "slow": [50, 100]}
    assert grid_size(grid) == 6
    assert grid_points(grid)[:3] == [
        {"fast": 10, "slow": 50}, {"fast": 10, "slow": 100}, {"fast": 20, "slow": 50}]


@pytest.mark.parametrize(("text", "message"), [
    ("fast", "cannot read 'fast'"), ("speed=1,2", "no parameter 'speed'"), ("fast=1", r"outside its range"),
    ("fast=ten", "expected an integer"), ("", "empty grid"),
])
def test_grid_errors(text: str, message: str) -> None:
    with pytest.raises(GridError, match=message):
        parse_grid(text, SMA)


def test_grid_files_json_and_toml(tmp_path: Path) -> None:
    (tmp_path / "g.json").write_text('{"fast": [5, 10], "slow": [60]}')
    (tmp_path / "g.toml").write_text("fast = [5, 10]\nslow = [60]\n")
    assert load_grid_file(tmp_path / "g.json", SMA) == load_grid_file(tmp_path / "g.toml", SMA) == {
        "fast": [5, 10], "slow": [60]}
    (tmp_path / "bad.json").write_text('{"fast": 5}')
    with pytest.raises(GridError, match="list of values"):
        load_grid_file(tmp_path / "bad.json", SMA)
    with pytest.raises(GridError, match="not valid JSON"):
        (tmp_path / "broken.json").write_text("{")
        load_grid_file(tmp_path / "broken.json", SMA)


def test_fixed_parameters_leave_the_search_and_unknown_ones_fail() -> None:
    assert list(searched_params(SMA, {"fast": 10})) == ["slow"]
    with pytest.raises(ParamError, match="unknown parameter"):
        searched_params(SMA, {"fats": 10})
