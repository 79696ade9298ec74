"""From the bot's events to the messages to send: the notifier's whole decision, without I/O.

:class:`Pipeline` runs each event through the one-event rules (:func:`~tradewarden.notify.alerts.classify`)
and the rules with memory (:class:`~tradewarden.notify.watch.Watch`), then routes every alert: at or above
``min_severity`` through the :class:`~tradewarden.notify.collapse.Collapser` (sent now, repeats counted),
below it into the :class:`~tradewarden.notify.collapse.Digest` for the daily summary. ``DailySummary`` (the
node emits it at ``runtime.daily_summary_utc``) becomes the summary message with the held alerts; the
"bot stopped" message carries what is still held, so nothing held is lost at a stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tradewarden.domain.events import EventType
from tradewarden.notify.alerts import RULES, Alert, Severity, classify
from tradewarden.notify.collapse import Collapser, Digest
from tradewarden.notify.watch import Watch, WatchSettings

E = EventType
#: every event type the notifier reads (the bus offers it nothing else)
TYPES = frozenset(RULES) | {E.FILL, E.EQUITY_SAMPLE, E.FEED_RECONNECTED, E.DAILY_SUMMARY}
_ICON = {Severity.CRITICAL: "\U0001f6a8", Severity.WARNING: "\u26a0\ufe0f", Severity.INFO: "\u2139\ufe0f"}


@dataclass(frozen=True)
class PipelineSettings:
    watch: WatchSettings
    min_severity: Severity = Severity.WARNING
    collapse_ms: int = 300_000


def render(alert: Alert, label: str) -> str:
    """The plain text of a message (no markup: nothing to escape, the same on every channel)."""
    return f"{_ICON[alert.severity]} {alert.severity.name} \u00b7 {label}\n{alert.text}"


class Pipeline:
    def __init__(self, settings: PipelineSettings) -> None:
        self.settings = settings
        self.watch = Watch(settings.watch)
        self.collapser = Collapser(settings.collapse_ms)
        self.digest = Digest()
        self.started = False  # a session's RunStarted went by: its database is open and migrated

    def on_event(self, kind: EventType, record: Mapping[str, Any], ts: int, now: int) -> list[Alert]:
        """The messages to send now for this event (``now``: the wall clock, ms)."""
        if kind == E.DAILY_SUMMARY:
            return [self._summary(record, ts), *self.collapser.due(now)]
        alerts = self.watch.observe(kind, record, ts, now)
        alert = classify(kind, record, ts)
        if alert is not None:
            if kind == E.RUN_STARTED:
                self.started = True
            elif kind == E.RUN_FINISHED and len(self.digest):
                alert = replace(alert, text=alert.text + "\n" + self._held_text("held until now"))
            alerts.append(alert)
        return self._route(alerts, now) + self.collapser.due(now)

    def on_tick(self, now: int) -> list[Alert]:
        """The silence rules and the ended collapse windows; call every few seconds."""
        return self._route(self.watch.tick(now), now) + self.collapser.due(now)

    def close(self) -> list[Alert]:
        """The counts of repeats still collapsed (the notifier is closing)."""
        return self.collapser.flush()

    def _route(self, alerts: list[Alert], now: int) -> list[Alert]:
        out: list[Alert] = []
        for alert in alerts:
            if alert.severity >= self.settings.min_severity:
                out += self.collapser.offer(alert, now)
            else:
                self.digest.add(alert)
        return out

    def _held_text(self, title: str) -> str:
        n = len(self.digest)
        return f"{title} ({n}):\n" + "\n".join(f"- {line}" for line in self.digest.take())

    def _summary(self, r: Mapping[str, Any], ts: int) -> Alert:
        day = datetime.fromtimestamp(ts / 1000, UTC).date().isoformat()
        text = (f"daily summary {day}: {r.get('candles')} candles, {r.get('trades')} trades, position "
                f"{r.get('position')}, equity {r.get('equity')}, fees {r.get('fees')}")
        held = self._held_text("held alerts") if len(self.digest) else "no held alerts"
        return Alert("daily_summary", day, Severity.INFO, f"{text}\n{held}", ts)
