"""The trading node: one ``tradewarden run`` (paper, shadow, live) as a set of components with a lifecycle.

:mod:`~tradewarden.node.builder` builds the components from the config and the options; :class:`TradingNode`
(:mod:`~tradewarden.node.node`) starts them in order, runs the candle loop, stops them in reverse and returns
the exit code; :func:`~tradewarden.node.node.run_session` is the entry point of the CLI. The trading worker
thread runs the engine, its venue and the state store, so exchange calls never hold the event loop.
"""
