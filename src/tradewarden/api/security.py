"""Who may call the API: bearer tokens or a session cookie, roles, CSRF, and slowing down guessers.

* ``Authorization: Bearer <token>`` on every endpoint but ``/healthz``; a missing or wrong token is 401, a
  viewer on a write 403.
* ``POST /api/v1/login`` turns a token into a session (for the dashboard): an HttpOnly, SameSite=Strict
  cookie, and a CSRF token both in a readable cookie and in the response. A write made with the session
  cookie must repeat that CSRF token in the ``X-CSRF-Token`` header (double submit); a bearer request needs
  none, since a browser never adds that header on its own.
* Failed authentications are counted per client address (at most ``MAX_CLIENTS`` addresses remembered,
  oldest forgotten first); after ``MAX_FAILURES`` within ``WINDOW_S`` that address gets 429 until the window
  has passed, whatever it sends.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request

from tradewarden.api import tokens
from tradewarden.persistence import Database

SESSION_COOKIE = "tw_session"
CSRF_COOKIE = "tw_csrf"
CSRF_HEADER = "X-CSRF-Token"
MAX_FAILURES = 10
WINDOW_S = 60.0
MAX_CLIENTS = 10_000
MAX_SESSIONS = 1_000
SESSION_S = 12 * 3600


@dataclass(frozen=True)
class Caller:
    token: str          # the token's name (recorded as the actor)
    role: tokens.Role
    via_session: bool
    csrf: str = ""


class FailureLimiter:
    """Failed attempts per client address within a window, in bounded memory."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S,
                 max_clients: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window_s, self.max_clients, self.clock = max_failures, window_s, max_clients, clock
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()  # address -> (window start, failures)
        self._lock = threading.Lock()

    def blocked(self, client: str) -> bool:
        with self._lock:
            entry = self._seen.get(client)
            if entry is None:
                return False
            if self.clock() - entry[0] > self.window_s:
                del self._seen[client]
                return False
            return entry[1] >= self.max_failures

    def failed(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            start, count = self._seen.pop(client, (now, 0))
            if now - start > self.window_s:
                start, count = now, 0
            self._seen[client] = (start, count + 1)
            while len(self._seen) > self.max_clients:
                self._seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)


class Sessions:
    """Login sessions in memory (a restart of ``serve`` logs everyone out), bounded and expiring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._by_id: OrderedDict[str, tuple[float, str, str]] = OrderedDict()  # id -> (expiry, token digest, csrf)
        self._lock = threading.Lock()

    def open(self, token_digest: str) -> tuple[str, str]:
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            self._by_id[sid] = (self.clock() + SESSION_S, token_digest, csrf)
            while len(self._by_id) > MAX_SESSIONS:
                self._by_id.popitem(last=False)
        return sid, csrf

    def get(self, sid: str) -> tuple[str, str] | None:
        with self._lock:
            entry = self._by_id.get(sid)
            if entry is None or entry[0] < self.clock():
                self._by_id.pop(sid, None)
                return None
            return entry[1], entry[2]

    def close(self, sid: str) -> None:
        with self._lock:
            self._by_id.pop(sid, None)


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _unauthorized(limiter: FailureLimiter, client: str, why: str) -> HTTPException:
    limiter.failed(client)
    return HTTPException(401, why, headers={"WWW-Authenticate": "Bearer"})


class Guard:
    """Authenticates a request against the database's tokens (re-read each time: a revoke bites at once)."""

    def __init__(self, db: Database, limiter: FailureLimiter, sessions: Sessions) -> None:
        self.db, self.limiter, self.sessions = db, limiter, sessions

    def caller(self, request: Request) -> Caller:
        client = _client(request)
        if self.limiter.blocked(client):
            raise HTTPException(429, "too many failed authentications; try again later",
                                headers={"Retry-After": str(int(self.limiter.window_s))})
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, secret = header.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise _unauthorized(self.limiter, client, "expected Authorization: Bearer <token>")
            found = tokens.verify(self.db, secret.strip())
            if found is None:
                raise _unauthorized(self.limiter, client, "unknown or revoked token")
            return Caller(found.name, found.role, False)
        sid = request.cookies.get(SESSION_COOKIE, "")
        session = self.sessions.get(sid) if sid else None
        if session is None:
            raise _unauthorized(self.limiter, client, "a token is required (Authorization: Bearer <token>)")
        digest, csrf = session
        found = tokens.by_digest(self.db, digest)
        if found is None:  # revoked since the login
            self.sessions.close(sid)
            raise _unauthorized(self.limiter, client, "the session's token was revoked")
        return Caller(found.name, found.role, True, csrf)

    def login(self, request: Request, secret: str) -> tuple[tokens.TokenInfo, str, str]:
        client = _client(request)
        if self.limiter.blocked(client):
            raise HTTPException(429, "too many failed authentications; try again later",
                                headers={"Retry-After": str(int(self.limiter.window_s))})
        found = tokens.verify(self.db, secret)
        if found is None:
            raise _unauthorized(self.limiter, client, "unknown or revoked token")
        sid, csrf = self.sessions.open(tokens.digest(secret))
        return found, sid, csrf


def require_operator(caller: Caller, request: Request) -> None:
    """403 for a viewer; with a session cookie, the CSRF header must match (403 otherwise)."""
    if caller.role != tokens.Role.OPERATOR:
        raise HTTPException(403, f"token {caller.token!r} is a viewer; this needs an operator token")
    if caller.via_session and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), caller.csrf):
        raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header (from the {CSRF_COOKIE} cookie)")
