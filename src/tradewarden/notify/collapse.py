"""No alert storms: repeats collapse into one message with a count, and low severities wait for the summary.

Both are state machines without I/O or a clock (``now`` is passed in, in ms):

* :class:`Collapser`: the first alert of a kind and subject goes out at once and opens a window of
  ``window_ms``; repeats inside the window are only counted; when the window ends (:meth:`Collapser.due`),
  one more message says how many repeats there were and what the last one said. A window with no repeats
  ends silently. So a burst of a thousand identical events is two messages, whatever its speed.
* :class:`Digest`: the alerts under the immediate severity, held for the daily summary, counted by kind and
  subject (at most ``max_keys`` distinct ones; the rest are counted together).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tradewarden.notify.alerts import Alert

Key = tuple[str, str]


@dataclass
class _Window:
    until: int
    repeats: int = 0
    last: Alert | None = None


def _span(ms: int) -> str:
    return f"{ms // 60_000} min" if ms >= 60_000 and ms % 60_000 == 0 else f"{ms / 1000:g} s"


class Collapser:
    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.windows: dict[Key, _Window] = {}

    def offer(self, alert: Alert, now: int) -> list[Alert]:
        """What to send now for ``alert``: itself (after the summary of an ended window of its kind), or
        nothing when it repeats one whose window is open."""
        key = (alert.kind, alert.subject)
        window = self.windows.get(key)
        out: list[Alert] = []
        if window is not None and now < window.until:
            window.repeats += 1
            window.last = alert if window.last is None or alert.severity >= window.last.severity else window.last
            return out
        if window is not None:
            out += self._summary(window)
        if self.window_ms > 0:
            self.windows[key] = _Window(now + self.window_ms)
        out.append(alert)
        return out

    def _summary(self, window: _Window) -> list[Alert]:
        if not window.repeats or window.last is None:
            return []
        last = window.last
        return [replace(last, count=window.repeats,
                        text=f"{last.text} [repeated {window.repeats} more time(s) within {_span(self.window_ms)}]")]

    def due(self, now: int) -> list[Alert]:
        """The summaries of the windows that ended by ``now`` (they close)."""
        ended = [key for key, w in self.windows.items() if now >= w.until]
        out: list[Alert] = []
        for key in ended:
            out += self._summary(self.windows.pop(key))
        return out

    def flush(self) -> list[Alert]:
        """Every open window's summary now (the notifier is closing)."""
        out: list[Alert] = []
        for window in self.windows.values():
            out += self._summary(window)
        self.windows.clear()
        return out


@dataclass
class _Held:
    first: Alert
    count: int


class Digest:
    def __init__(self, max_keys: int = 50) -> None:
        self.max_keys = max_keys
        self.held: dict[Key, _Held] = {}
        self.overflow = 0

    def add(self, alert: Alert) -> None:
        key = (alert.kind, alert.subject)
        held = self.held.get(key)
        if held is not None:
            held.count += alert.count
        elif len(self.held) < self.max_keys:
            self.held[key] = _Held(alert, alert.count)
        else:
            self.overflow += alert.count

    def __len__(self) -> int:
        return sum(h.count for h in self.held.values()) + self.overflow

    def take(self) -> list[str]:
        """One line per kind and subject (with its count), in the order first seen; the digest empties."""
        lines = [h.first.text + (f" (x{h.count})" if h.count > 1 else "") for h in self.held.values()]
        if self.overflow:
            lines.append(f"... and {self.overflow} more of other kinds")
        self.held.clear()
        self.overflow = 0
        return lines
