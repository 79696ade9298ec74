"""The strategy interface.

A strategy declares typed parameters (each with a default and a search range the optimizer uses) and
implements :meth:`Strategy.signals`: given closed candles, return for every bar a *target* (``1`` go or
stay long, ``0`` go flat, ``-1`` go short where shorting is enabled, else flat, ``NaN`` no opinion: keep
what you have) and optionally a stop-loss or take-profit price for entries on that bar.

Signals must be causal: the value for bar ``i`` may use bars ``0..i`` only. The engine enforces it: the
per-candle path gives the strategy only the candles closed so far, and the batch path recomputes the
signals on truncated histories (:func:`check_causal`) and raises :class:`LookaheadError` naming the first
bar whose signal changed when the future was removed.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from tradewarden.domain.candles import CandleSeries, FloatArray
from tradewarden.errors import BadInput


class ParamError(BadInput, ValueError):
    """A strategy parameter that is unknown or out of its declared range."""


class LookaheadError(BadInput, RuntimeError):
    """A strategy whose signal for a bar depends on later bars."""


@dataclass
class Param:
    """A typed strategy parameter with a default and the range the optimizer searches."""

    default: Any
    doc: str = ""
    name: str = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Strategy | None, owner: type) -> Any:
        if instance is None:
            return self
        return instance.params[self.name]

    def parse(self, value: Any) -> Any:
        return value

    def validate(self, value: Any) -> None:
        return None

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "type": type(self).__name__.removesuffix("Param").lower(),
                "default": self.default, "doc": self.doc}


@dataclass
class IntParam(Param):
    low: int = 1
    high: int = 1000
    step: int = 1

    def parse(self, value: Any) -> int:
        if isinstance(value, bool):
            raise ParamError(f"{self.name}: expected an integer, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            raise ParamError(f"{self.name}: expected an integer, got {value!r}") from None

    def validate(self, value: Any) -> None:
        if not self.low <= value <= self.high:
            raise ParamError(f"{self.name}={value} is outside its range [{self.low}, {self.high}]")

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "low": self.low, "high": self.high, "step": self.step}


@dataclass
class FloatParam(Param):
    low: float = 0.0
    high: float = 1.0
    step: float | None = None
    log: bool = False

    def parse(self, value: Any) -> float:
        try:
            parsed = float(value)
        except (TypeError, ValueError):
            raise ParamError(f"{self.name}: expected a number, got {value!r}") from None
        if not math.isfinite(parsed):
            raise ParamError(f"{self.name}: expected a finite number, got {value!r}")
        return parsed

    def validate(self, value: Any) -> None:
        if not self.low <= value <= self.high:
            raise ParamError(f"{self.name}={value} is outside its range [{self.low}, {self.high}]")

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "low": self.low, "high": self.high, "step": self.step, "log": self.log}


@dataclass
class BoolParam(Param):
    def parse(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ParamError(f"{self.name}: expected true or false, got {value!r}")


@dataclass
class ChoiceParam(Param):
    choices: tuple[Any, ...] = field(default_factory=tuple)

    def validate(self, value: Any) -> None:
        if value not in self.choices:
            raise ParamError(f"{self.name}={value!r} is not one of {list(self.choices)}")

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "choices": list(self.choices)}


@dataclass
class Signals:
    """Per-bar output of a strategy; every array has one value per input candle."""

    target: FloatArray
    stop_loss: FloatArray | None = None    # price; NaN = none
    take_profit: FloatArray | None = None  # price; NaN = none

    def __post_init__(self) -> None:
        for arr in (self.stop_loss, self.take_profit):
            if arr is not None and arr.shape != self.target.shape:
                raise ValueError("stop_loss/take_profit must have one value per bar, like target")

    def tail(self, n: int) -> Signals:
        cut = slice(len(self.target) - n, None)
        return Signals(
            self.target[cut],
            None if self.stop_loss is None else self.stop_loss[cut],
            None if self.take_profit is None else self.take_profit[cut],
        )


class Strategy(ABC):
    """Base class for all strategies. Subclasses declare parameters as class attributes::

        class MyStrategy(Strategy):
            name = "my_strategy"
            period = IntParam(20, "bars in the window", low=5, high=200)

            @property
            def lookback(self) -> int:
                return self.period + 1

            def signals(self, candles: CandleSeries) -> Signals:
                ...
    """

    name: ClassVar[str] = ""
    parameters: ClassVar[dict[str, Param]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, Param] = {}
        for klass in reversed(cls.__mro__):
            for key, value in vars(klass).items():
                if isinstance(value, Param):
                    found[key] = value
        cls.parameters = found
        if not cls.name:
            cls.name = cls.__name__.lower()

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            known = ", ".join(self.parameters) or "none"
            raise ParamError(f"strategy {self.name}: unknown parameter(s) {', '.join(unknown)} (known: {known})")
        values: dict[str, Any] = {}
        errors: list[str] = []
        for key, spec in self.parameters.items():
            try:
                value = spec.parse(params[key]) if key in params else spec.default
                spec.validate(value)
                values[key] = value
            except ParamError as exc:
                errors.append(str(exc))
        if errors:
            raise ParamError(f"strategy {self.name}: " + "; ".join(errors))
        self.params: dict[str, Any] = values
        self.validate()

    def validate(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Cross-parameter checks (e.g. fast < slow); raise :class:`ParamError`."""

    @property
    @abstractmethod
    def lookback(self) -> int:
        """How many closed candles the signal of the newest bar depends on (its warm-up)."""

    @abstractmethod
    def signals(self, candles: CandleSeries) -> Signals:
        """Causal per-bar signals for ``candles`` (see the module docstring)."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}

    @classmethod
    def param_specs(cls) -> list[dict[str, Any]]:
        return [p.spec() for p in cls.parameters.values()]


def check_causal(strategy: Strategy, candles: CandleSeries, full: Signals, checkpoints: int = 4,
                 seed: int = 0) -> None:
    """Raise :class:`LookaheadError` unless the signals at bar ``k`` are the same with the future cut off.

    For a few cut points ``k`` we recompute the signals on the ``window`` bars ending at ``k`` only (which
    is all the per-candle path would have shown the strategy) and compare them with the signals from the
    whole history over the bars where the window covers the strategy's lookback.
    """
    n = len(candles)
    look = max(1, strategy.lookback)
    window = max(2 * look, look + 64)
    if n <= window:
        cuts = [n - 1] if n > look else []
    else:
        rng = np.random.default_rng(seed)
        cuts = sorted({int(k) for k in rng.integers(window, n - 1, size=checkpoints)} | {window, n // 2})
    for k in cuts:
        lo = max(0, k + 1 - window)
        part = strategy.signals(candles[lo : k + 1].read_only())
        start = look - 1 if lo > 0 else 0  # bars of the window whose lookback the window fully covers
        for name in ("target", "stop_loss", "take_profit"):
            a = getattr(part, name)
            b = getattr(full, name)
            if a is None and b is None:
                continue
            if a is None or b is None:
                raise LookaheadError(f"strategy {strategy.name}: {name} present on one history but not the other")
            seg_a = a[start:]
            seg_b = b[lo + start : k + 1]
            same = (seg_a == seg_b) | (np.isnan(seg_a) & np.isnan(seg_b))
            if not same.all():
                bad = lo + start + int(np.flatnonzero(~same)[0])
                ts = int(candles.ts[bad])
                raise LookaheadError(
                    f"strategy {strategy.name} looks ahead: its {name} for bar {bad} (open time {ts}) changes "
                    f"when candles after bar {k} are removed; a signal may only use candles up to its own bar"
                )
