"""The trading node: one ``tradewarden run`` (paper, shadow, live) as a set of components with a lifecycle.

It owns the session's wiring: the options of a run and its outcome, the trading worker thread (the one thread
that runs the engine, its venue and the state store, so exchange calls never hold the event loop), the
components on the event loop (candle intake, order follower, kill-switch and lease watchers, loop monitor),
the reconciler's state, and :func:`run_session`, the entry point of the CLI.
"""
