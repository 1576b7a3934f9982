"""Ports on loopback, for the rare binary that cannot take port 0."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may take it
    before the caller binds it: prefer port 0 wherever a binary accepts it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
