"""Parameter files: written atomically, loaded with clear messages for every kind of bad file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradewarden.optimize.paramsfile import (
    DataRange,
    ParamsFile,
    ParamsFileError,
    StudyInfo,
    load_params_file,
    write_params_file,
)
from tradewarden.strategies import ParamError


def _sample(params: dict[str, object] | None = None) -> ParamsFile:
    t0, t1, t2 = (datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 10, 1, tzinfo=UTC),
                  datetime(2022, 1, 1, tzinfo=UTC))
    return ParamsFile(
        strategy="sma_cross", params=params or {"fast": 12, "slow": 80}, created=t2, version="0.1.0",
        study=StudyInfo(name="s", storage="sqlite:///x.db", trial=7, objective="sharpe", select_by="oos",
                        mode="search", completed_trials=100),
        data=DataRange(source="bundled sample", symbol="BTC/USDT", timeframe="1h", sha256="ab" * 32,
                       bars=8760, start=t0, end=t2, search_start=t0, search_end=t1, holdout_start=t1,
                       holdout_end=t2),
        metrics={"in_sample": {"sharpe": 1.2, "trades": 30}, "out_of_sample": {"sharpe": 0.8, "trades": 9}},
    )


def test_round_trip_and_strategy_instance(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "params.json"
    write_params_file(path, _sample())
    loaded = load_params_file(path)
    assert loaded == _sample()
    assert loaded.strategy_instance().params == {"fast": 12, "slow": 80}
    assert [p.name for p in path.parent.iterdir()] == ["params.json"]  # no temporary file left behind


def test_strategy_instance_validates_the_parameters(tmp_path: Path) -> None:
    write_params_file(tmp_path / "p.json", _sample({"fast": 90, "slow": 80}))
    with pytest.raises(ParamError, match="fast"):
        load_params_file(tmp_path / "p.json").strategy_instance()


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", r"not valid JSON \(line 1"),
    ('{"format": "tradewarden.params/9"}', "unsupported format 'tradewarden.params/9'"),
    ("[1, 2]", "top level"),
])
def test_malformed_files_name_file_and_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(ParamsFileError, match=message) as exc:
        load_params_file(path)
    assert str(path) in str(exc.value)


def test_missing_and_wrong_fields_are_named(tmp_path: Path) -> None:
    data = _sample().model_dump(mode="json")
    del data["params"]
    data["study"]["trial"] = "seven"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ParamsFileError) as exc:
        load_params_file(path)
    assert "params: Field required" in str(exc.value) and "study.trial" in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParamsFileError, match="not found"):
        load_params_file(tmp_path / "nope.json")
