"""The base every configuration section derives from, and the field types several sections share.

A section rejects unknown keys and validates its defaults (:class:`Section`); ``UserPath`` expands ``~`` as a
command line would and ``Pct`` is a percentage strictly between 0 and 100. The sections themselves live in
:mod:`tradewarden.config.models` and its siblings (``notify``, ``fleet``, ``reoptimize``, ``risk``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# "~/data/x.csv" in a config file means the user's home, as it would on a command line
UserPath = Annotated[Path, AfterValidator(Path.expanduser)]
Pct = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]


class Section(BaseModel):
    """Every section: unknown keys are errors (a typo must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
