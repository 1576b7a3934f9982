"""Public-contract helpers: typed clients, the error model, the Redis key schema
and the wire formats of the external services. Nothing here knows about a
service's internals."""
