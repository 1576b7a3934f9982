"""Redis for a stack: in-memory fakeredis (in a host process of its own), a real Redis, an owned redis-server."""

REAL_REDIS_ENV = "INTEGRATION_REAL_REDIS_ADDR"
"""``host:port`` of the real Redis a run may use (:mod:`harness.redis.backends`, checked by
:mod:`harness.suites.preflight`, which imports no Redis client)."""
