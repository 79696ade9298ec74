"""The fleet: exchange instances over a shared database and Redis.

This package owns what runs an instance and keeps the fleet in the state operators ask for: the instance
process (its lifecycle moves, heartbeat and lease: one active instance per exchange and role or account), the
market-data instance (REST warm-up into the candle store and the Redis cache, then WebSocket klines), the
agent (one per machine: starts and stops the instances assigned to its host so that actual state follows
desired state, restarting crashed ones with backoff) and the harness on the registry. The registry's tables
and repositories live in ``persistence`` (``fleet_models``, ``fleet_repo``, ``instance_repo``); the lifecycle's
transition table in ``domain.instances``.
"""
