"""The running bot's heartbeat on its account lease (:mod:`tradewarden.persistence.lease`).

It runs in a thread of its own: the session's event loop can be held for longer than a lease lasts by a
blocking boot step (REST calls retried for up to two minutes). The thread never touches the engine or the
event journal; it records what happened in :attr:`LeaseKeeper.lost`, which the session watches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tradewarden.persistence.lease import HEARTBEAT_MS, AccountLease


class LeaseKeeper:
    """Renew ``lease`` every ``period_s``; set :attr:`lost` once it is no longer ours (then stop renewing)."""

    def __init__(self, lease: AccountLease, period_s: float = HEARTBEAT_MS / 1000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.lease = lease
        self.period_s = period_s
        self.lost: str | None = None
        self.last_error: str | None = None
        self._monotonic = monotonic
        self._renewed = monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def beat(self) -> None:
        """One heartbeat. A database that does not answer is tried again at the next one; the lease counts as
        lost once a whole lease period passed without a renewal (another bot may have taken it by then)."""
        try:
            renewed = self.lease.renew()
        except Exception as exc:  # the database's errors vary by driver; the next beat tries again
            self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if self._monotonic() - self._renewed > self.lease.ttl_ms / 1000:
                self.lost = f"the lease could not be renewed for {self.lease.ttl_ms // 1000} s ({self.last_error})"
            return
        if renewed:
            self._renewed = self._monotonic()
            self.last_error = None
        else:
            self.lost = "another instance took this account's lease over (this bot did not renew it in time)"

    def stop(self, release: bool = True) -> None:
        """Stop renewing; give the lease up unless it was lost (then it is someone else's)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if release and self.lost is None:
            try:
                self.lease.release()
            except Exception as exc:  # the database went away: the lease simply expires
                self.last_error = f"{type(exc).__name__}: release failed"

    def _run(self) -> None:
        while self.lost is None and not self._stop.wait(self.period_s):
            self.beat()
