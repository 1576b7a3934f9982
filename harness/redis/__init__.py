"""Redis for a stack: in-memory fakeredis (in a host process of its own), a real Redis, an owned redis-server."""
