"""Fault injection: what can be injected, its parameters, when it fires, and the log of what happened.

Faults are armed from the control endpoint (``POST /_sim/faults``), from :meth:`SimulatorHandle.inject` or
from a scenario file (YAML, armed when the simulated clock reaches the entry's time). Every arming and every
firing is appended to the log, in order, so a test can assert exactly what its bot went through.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tradewarden.simulator.errors import DEFAULT_MESSAGES, SimConfigError

REQUIRED = object()
_TARGETS = ("all", "market", "user")

# kind -> {param: (default or REQUIRED, type)}; the control endpoint, inject() and scenario files share it.
FAULT_SPECS: dict[str, dict[str, tuple[Any, type]]] = {
    "drop_connections": {"target": ("all", str), "code": (1000, int)},
    "stall_streams": {"seconds": (REQUIRED, float), "target": ("all", str)},
    "malformed_messages": {"count": (1, int), "variant": ("invalid_json", str), "target": ("market", str)},
    "http_error": {
        "status": (REQUIRED, int),
        "code": (None, int),
        "msg": (None, str),
        "body": (None, str),
        "count": (1, int),
        "path": (None, str),
        "retry_after": (None, int),
    },
    "rate_limit": {"count": (1, int), "retry_after": (1, int), "path": (None, str)},
    "ban": {"count": (1, int), "retry_after": (60, int), "path": (None, str)},
    "server_errors": {"count": (3, int), "status": (503, int), "path": (None, str)},
    "slow_responses": {"delay_ms": (REQUIRED, int), "count": (1, int), "path": (None, str)},
    "ambiguous_order": {"mode": ("timeout", str), "delay_ms": (15000, int), "status": (503, int)},
    # the next order is placed but its answer is held until POST /_sim/release: a lost or late answer whose
    # end the test decides, not a clock
    "hold_order_answer": {},
    "reject_next_order": {
        "code": (REQUIRED, int),
        "msg": (None, str),
        "status": (400, int),
        "count": (1, int),
    },
    "clock_skew": {"ms": (REQUIRED, int)},
    "partial_fills": {"enabled": (True, bool)},
}
_CHOICES = {
    ("malformed_messages", "variant"): ("invalid_json", "out_of_schema"),
    ("ambiguous_order", "mode"): ("timeout", "error"),
}
HTTP_KINDS = ("http_error", "rate_limit", "ban", "server_errors", "slow_responses")


def validate(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check a fault's kind and parameters and fill defaults; :class:`SimConfigError` names a problem."""
    spec = FAULT_SPECS.get(kind)
    if spec is None:
        raise SimConfigError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_SPECS)}")
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise SimConfigError(f"fault {kind}: unknown parameter(s) {unknown}; allowed: {sorted(spec)}")
    out: dict[str, Any] = {}
    for name, (default, typ) in spec.items():
        if name not in params or params[name] is None:
            if default is REQUIRED:
                raise SimConfigError(f"fault {kind}: parameter {name!r} is required")
            out[name] = default
            continue
        value = params[name]
        ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise SimConfigError(f"fault {kind}: parameter {name!r} must be {typ.__name__}, got {value!r}")
        out[name] = value
    for (k, name), choices in _CHOICES.items():
        if k == kind and out[name] not in choices:
            raise SimConfigError(f"fault {kind}: {name} must be one of {choices}, got {out[name]!r}")
    if "target" in out and out["target"] not in _TARGETS:
        raise SimConfigError(f"fault {kind}: target must be one of {_TARGETS}, got {out['target']!r}")
    for name in ("count", "seconds", "delay_ms", "retry_after"):
        if isinstance(out.get(name), int | float) and out[name] < 0:
            raise SimConfigError(f"fault {kind}: {name} must not be negative")
    if kind == "http_error" and not 400 <= out["status"] <= 599:
        raise SimConfigError(f"fault http_error: status must be 400-599, got {out['status']}")
    if kind == "reject_next_order" and out["msg"] is None:
        out["msg"] = DEFAULT_MESSAGES.get(out["code"], "Rejected by the simulator.")
    return out


@dataclass
class ArmedFault:
    id: int
    kind: str
    params: dict[str, Any]
    remaining: int


@dataclass(frozen=True)
class ScheduledFault:
    at_ms: int  # simulated time
    kind: str
    params: dict[str, Any]
    where: str


@dataclass
class FaultBook:
    """Armed faults and the log. ``apply`` runs faults that act at once (drop, skew, partial fills)."""

    sim_now: Callable[[], int]
    apply: Callable[[str, dict[str, Any]], None] = lambda kind, params: None
    armed: list[ArmedFault] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    scheduled: list[ScheduledFault] = field(default_factory=list)
    stall_until: dict[str, float] = field(default_factory=dict)  # target -> monotonic deadline
    _next_id: int = 1

    def record(self, event: str, kind: str, **detail: Any) -> dict[str, Any]:
        entry = {"seq": len(self.log) + 1, "sim_ms": self.sim_now(), "event": event, "kind": kind, **detail}
        self.log.append(entry)
        return entry

    def arm(self, kind: str, params: dict[str, Any], source: str = "control") -> dict[str, Any]:
        checked = validate(kind, params)
        fault_id = self._next_id
        self._next_id += 1
        entry = self.record("armed", kind, id=fault_id, source=source, params=checked)
        if kind in ("drop_connections", "clock_skew", "partial_fills"):
            self.apply(kind, checked)
            self.record("fired", kind, id=fault_id, params=checked)
        elif kind == "stall_streams":
            targets = ("market", "user") if checked["target"] == "all" else (checked["target"],)
            for t in targets:
                self.stall_until[t] = time.monotonic() + checked["seconds"]
            self.record("fired", kind, id=fault_id, params=checked)
        else:
            self.armed.append(ArmedFault(fault_id, kind, checked, checked.get("count", 1)))
        return entry

    def clear(self) -> None:
        self.armed.clear()
        self.stall_until.clear()
        self.record("cleared", "all")

    def _consume(self, fault: ArmedFault, **detail: Any) -> None:
        fault.remaining -= 1
        if fault.remaining <= 0:
            self.armed.remove(fault)
        self.record("fired", fault.kind, id=fault.id, **detail)

    def take(self, kinds: tuple[str, ...], path: str | None = None, **detail: Any) -> ArmedFault | None:
        """The first armed fault of ``kinds`` that applies to ``path``; counts it as fired."""
        for fault in self.armed:
            if fault.kind in kinds and fault.remaining > 0:
                want = fault.params.get("path")
                if path is not None and want and want not in path:
                    continue
                self._consume(fault, path=path, **detail)
                return fault
        return None

    def stalled(self, target: str) -> bool:
        until = self.stall_until.get(target)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del self.stall_until[target]
        self.record("ended", "stall_streams", target=target)
        return False

    def take_malformed(self, target: str) -> str | None:
        for fault in self.armed:
            if fault.kind == "malformed_messages" and fault.params["target"] in (target, "all"):
                self._consume(fault, target=target)
                return str(fault.params["variant"])
        return None

    # -- scenario files ------------------------------------------------------------------------
    def load_scenario(self, source: Path | str | list[Any], start_ms: int, tf_ms: int) -> None:
        where = str(source) if isinstance(source, Path | str) else "scenario"
        if isinstance(source, Path | str):
            try:
                doc = yaml.safe_load(Path(source).read_text())
            except OSError as exc:
                raise SimConfigError(f"scenario {where}: cannot read ({exc.strerror})") from None
            except yaml.YAMLError as exc:
                raise SimConfigError(f"scenario {where}: not valid YAML ({exc})") from None
        else:
            doc = {"faults": source}
        entries = doc.get("faults") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise SimConfigError(f"scenario {where}: expected a mapping with a 'faults' list")
        scheduled = []
        for n, raw in enumerate(entries, start=1):
            at = f"{where}: faults[{n}]"
            if not isinstance(raw, dict) or "kind" not in raw:
                raise SimConfigError(f"scenario {at}: each entry needs a 'kind'")
            entry = dict(raw)
            kind = entry.pop("kind")
            at_ms, at_candle = entry.pop("at_ms", None), entry.pop("at_candle", None)
            if at_ms is not None and at_candle is not None:
                raise SimConfigError(f"scenario {at}: give at_ms or at_candle, not both")
            for name, value in (("at_ms", at_ms), ("at_candle", at_candle)):
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                    raise SimConfigError(f"scenario {at}: {name} must be a non-negative integer")
            try:
                params = validate(str(kind), entry)
            except SimConfigError as exc:
                raise SimConfigError(f"scenario {at}: {exc}") from None
            offset = at_ms if at_ms is not None else (at_candle or 0) * tf_ms
            scheduled.append(ScheduledFault(start_ms + offset, str(kind), params, at))
        self.scheduled = sorted(self.scheduled + scheduled, key=lambda s: s.at_ms)

    def fire_due(self, now_ms: int) -> None:
        while self.scheduled and self.scheduled[0].at_ms <= now_ms:
            item = self.scheduled.pop(0)
            self.arm(item.kind, item.params, source=item.where)
