"""Parameter files: the chosen parameters with their provenance, as JSON.

The runtime loads them with :func:`load_params_file` (and reloads when the file changes), so they are
written atomically (a temporary file renamed over the old one): a reader never sees half a file. See
docs/OPTIMIZE.md for the format; ``format`` names its version.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from tradewarden.errors import BadInput
from tradewarden.strategies.base import Strategy

FORMAT = "tradewarden.params/1"


class ParamsFileError(BadInput, ValueError):
    """A parameter file that cannot be read or is malformed; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudyInfo(_Model):
    name: str
    storage: str  # the URL with any password hidden
    trial: int  # the Optuna trial number the parameters come from
    objective: str
    select_by: str  # "oos" or "is": which window parts the trial value averaged
    mode: str  # "search" or "grid"
    completed_trials: int


class DataRange(_Model):
    source: str
    symbol: str
    timeframe: str
    sha256: str
    bars: int
    start: datetime  # first bar open
    end: datetime  # last bar close
    search_start: datetime
    search_end: datetime  # = holdout_start: the search saw nothing from here on
    holdout_start: datetime
    holdout_end: datetime


class ParamsFile(_Model):
    format: Literal["tradewarden.params/1"] = "tradewarden.params/1"
    strategy: str
    params: dict[str, Any]
    created: datetime
    version: str
    study: StudyInfo
    data: DataRange
    metrics: dict[str, dict[str, float | int]]  # "in_sample" (search period), "out_of_sample" (holdout)
    validation: dict[str, Any] = {}

    def strategy_instance(self) -> Strategy:
        """The strategy with these parameters (validated by the strategy; raises ParamError)."""
        from tradewarden.strategies import load_strategy

        return load_strategy(self.strategy, dict(self.params))


def load_params_file(path: str | Path) -> ParamsFile:
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsFileError(f"parameter file {path} not found") from None
    except OSError as exc:
        raise ParamsFileError(f"parameter file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParamsFileError(
            f"parameter file {path}: not valid JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    if isinstance(data, dict) and data.get("format") not in (None, FORMAT):
        raise ParamsFileError(
            f"parameter file {path}: unsupported format {data.get('format')!r} "
            f"(this version reads {FORMAT!r})"
        )
    try:
        return ParamsFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
        )
        raise ParamsFileError(f"parameter file {path}: {problems}") from None


def write_params_file(path: Path, params_file: ParamsFile) -> None:
    """Write atomically: a temporary file in the same directory, then a rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(params_file.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plain(value: Any) -> Any:
    """numpy scalars and the like as plain JSON values."""
    if hasattr(value, "item"):
        return value.item()
    return value
