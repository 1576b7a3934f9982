"""Ports on loopback that stay a part's own while it is down.

A part that is stopped and started again on the same port (a restarted
service, a stopped stub, a proxy taken down, a killed Redis) lets the port go
in between, and the kernel may hand it to any other process of the machine
meanwhile: to a connection's local end (``connect`` picks its port from the
same range as a listener's port 0) or to another listener's port 0. The
restart then fails on "address already in use", at random.

A :class:`PortHold` keeps a port: a socket bound to it with ``SO_REUSEADDR``
that never listens. The kernel gives a held port to no one else, neither to a
``connect`` nor to a ``bind`` to port 0, while the part itself binds it again
and again (every server here sets ``SO_REUSEADDR`` on its listener: Go's
``net``, redis-server, Python's socketserver and ``socket.create_server``).
A held port without its listener refuses connections, as a free one would.
"""

from __future__ import annotations

import errno
import socket
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self

__all__ = ["HOST", "PortHold", "PortTaken"]

HOST = "127.0.0.1"


class PortTaken(OSError):
    """A port to be held again was taken by another process while nothing held it."""


class PortHold:
    """A TCP port on 127.0.0.1 kept from every other process until :meth:`close`
    (or until the hold is garbage-collected): a new free port, or ``port``."""

    def __init__(self, port: int = 0) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise PortTaken(
                    exc.errno, f"port {HOST}:{port} was taken by another process while nothing held it"
                ) from exc
            raise
        self.port: int = sock.getsockname()[1]
        self._sock: socket.socket | None = sock
        # A hold lives as long as what it holds for; one never closed is let go with it, quietly.
        self._finalizer = weakref.finalize(self, sock.close)

    @classmethod
    def of(cls, address: str) -> Self:
        """Hold ``address`` (``127.0.0.1:PORT``) again, as soon as its server let it go;
        :class:`PortTaken` if another process took it in between."""
        host, port = address.rsplit(":", 1)
        if host != HOST:
            raise ValueError(f"only ports on {HOST} are held, not {address!r}")
        return cls(int(port))

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{HOST}:{self.port}"

    @property
    def held(self) -> bool:
        return self._sock is not None

    def listener(self) -> socket.socket:
        """A socket listening on the held port (``SO_REUSEADDR``, as every server's here)."""
        if self._sock is None:
            raise RuntimeError(f"the hold on {self.address} was closed")
        return socket.create_server((HOST, self.port))

    def close(self) -> None:
        """Let the port go; idempotent."""
        self._sock = None
        self._finalizer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PortHold {self.address}{'' if self.held else ' closed'}>"
