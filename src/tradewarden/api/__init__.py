"""Operations: what running bots publish, and the ways an operator reads and steers them.

* :mod:`~tradewarden.api.publish` — a bot's publisher: subscribes to the event bus and writes the read model
  (``bots``, ``bot_events``, positions, open orders, balances, equity) from a thread of its own, never on the
  trading path; a heartbeat every few seconds;
* :mod:`~tradewarden.api.readmodel` — queries over that model and the risk state, shared by ``status`` and the
  HTTP API;
* :mod:`~tradewarden.api.status` — the health verdict of ``tradewarden status``;
* :mod:`~tradewarden.api.tokens` — API tokens (hashed, roles ``viewer`` and ``operator``);
* :mod:`~tradewarden.api.app` — the FastAPI application ``tradewarden serve`` runs (docs/OPERATIONS.md);
* :mod:`~tradewarden.api.fleet` — its fleet endpoints (registry, instances, activity feed, Connect/Stop,
  account setup) behind the dashboard's Network page, with :mod:`~tradewarden.api.fleet_views` shaping them.

FastAPI is imported only by ``app``, ``dashboard``, ``fleet`` and ``security``, so a bot that publishes never
loads it.
"""
