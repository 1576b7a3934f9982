"""A real TCP fault proxy between two parts of a stack: Shopify's toxiproxy.

:class:`ToxiproxyServer` runs the pinned ``toxiproxy-server``
(:mod:`harness.builds.tools`) as a supervised, tagged process on a port of its
own choosing (port 0; the bound port is read from the process's listening
sockets, so none is guessed). :meth:`ToxiproxyServer.link` opens a proxy on a
port held for it (:class:`~harness.processes.ports.PortHold`, so that no other
process takes the port while the link is down) in front of an upstream
``host:port``; a :class:`Link` then takes
every fault toxiproxy offers, per direction and with a toxicity::

    link = server.link("web->orders", upstream="127.0.0.1:4321")
    with link.latency(ms=3000):          # answers 3 s late while in the block
        ...
    link.down()                          # connections refused, open ones cut
    link.heal()                          # every toxic removed, link enabled

Directions are toxiproxy's: ``downstream`` is what the upstream sends back
(answers), ``upstream`` what the client sends (requests); ``both`` adds one
toxic each way. The client speaks toxiproxy's documented HTTP API.

A toxic comes off in place (``DELETE /proxies/{p}/toxics/{t}``), so the
link's open connections stay open, except where toxiproxy itself closes them
(:data:`KEEPS_CONNECTIONS`, measured by the harness's tests):

- ``latency``, ``bandwidth``, ``slicer``, ``slow_close``: kept; data the toxic
  held is passed on at once.
- ``limit_data``, ``reset_peer``: kept, for a connection the toxic had not yet
  ended (one that reached the byte limit, or sent data past a reset toxic, was
  closed or reset then, by the fault itself).
- ``timeout`` (and :meth:`Link.blackhole`, a timeout of 0): closed. toxiproxy's
  ``TimeoutToxic.Cleanup`` closes every stream the toxic sat on when it is
  removed: the data it swallowed is gone, so the stream could not go on.
- :meth:`Link.down`: closed when the link goes down (toxiproxy's ``enabled:
  false`` stops the proxy, which closes every connection); :meth:`Link.up`
  opens the port again.

Removing a toxic can hang toxiproxy's API (Shopify/toxiproxy#558: the toxic,
interrupted, hands its held data to a connection's writer that is itself
waiting for the toxic collection's lock, which the removal holds). A removal
not answered within :data:`REMOVE_TIMEOUT` is given up and the proxy is
rebuilt instead, on the same port with the toxics that stay, which closes the
link's open connections as a brief network cut would (:attr:`Link.rebuilds`
counts them); clients reconnect to the same address.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import psutil
import requests

from harness.builds.tools import go_tool
from harness.processes.ports import PortHold
from harness.processes.service import ServiceProcess

__all__ = ["KEEPS_CONNECTIONS", "REMOVE_TIMEOUT", "Direction", "Link", "Toxic", "ToxiproxyError", "ToxiproxyServer"]

Direction = Literal["upstream", "downstream", "both"]
_STREAMS: dict[Direction, tuple[str, ...]] = {
    "upstream": ("upstream",),
    "downstream": ("downstream",),
    "both": ("upstream", "downstream"),
}


REMOVE_TIMEOUT = 2.0
"""Seconds a toxic's removal may take before the proxy is rebuilt instead (toxiproxy#558)."""

KEEPS_CONNECTIONS: dict[str, bool] = {
    "latency": True,
    "bandwidth": True,
    "slicer": True,
    "slow_close": True,
    "limit_data": True,  # those it had not yet closed
    "reset_peer": True,  # those it had not yet reset
    "timeout": False,  # TimeoutToxic.Cleanup closes them
}
"""Whether a connection open across a toxic's removal (heal) is still usable after it, by toxic type."""


class ToxiproxyError(RuntimeError):
    """toxiproxy's API refused a request; carries its status and answer."""


def _listening(proc: ServiceProcess) -> dict[str, str] | None:
    """The API address once toxiproxy-server listens and answers, else None."""
    try:
        conns = psutil.Process(proc.pid).net_connections(kind="tcp4")
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN:
            addr = f"127.0.0.1:{conn.laddr.port}"
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://{addr}/version", timeout=1).ok:
                    return {"api": addr}
    return None


class ToxiproxyServer:
    """One toxiproxy-server process; proxies and toxics through its API."""

    def __init__(self, workdir: Path, *, binary: Path | None = None) -> None:
        self.process = ServiceProcess(
            "toxiproxy",
            [str(binary or go_tool("toxiproxy-server")), "-host", "127.0.0.1", "-port", "0"],
            # Each chunk it forwards passes between goroutines over channels;
            # on one scheduler thread those hand-offs wake no other thread, which
            # costs a quarter less CPU beside the suite's services.
            env={"LOG_LEVEL": "warn", "GOMAXPROCS": "1"},
            workdir=workdir,
            ready_probe=_listening,
        )
        self._http = requests.Session()
        self._names = itertools.count(1)
        self._links: dict[str, Link] = {}

    def start(self) -> Self:
        self.process.start()
        self.url = "http://" + self.process.address("api")
        return self

    def stop(self) -> None:
        self.process.stop()
        self._http.close()
        for link in self._links.values():  # gone with the server: their ports are let go
            link._hold.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ API

    def request(self, method: str, path: str, json: Any = None, *, timeout: float = 10.0) -> Any:
        resp = self._http.request(method, self.url + path, json=json, timeout=timeout)
        if not resp.ok:
            raise ToxiproxyError(f"toxiproxy {method} {path} {json!r}: {resp.status_code} {resp.text.strip()}")
        return resp.json() if resp.content else None

    def link(self, name: str, upstream: str) -> Link:
        """A new proxy listening on 127.0.0.1, on a port held for it until
        :meth:`Link.delete`, forwarding to ``upstream``. ``name`` is for humans (it
        appears in errors and reports); each proxy also gets a unique id, so many
        stacks can share one server."""
        proxy_id = f"{next(self._names)}-{''.join(c if c.isalnum() else '_' for c in name)}"
        hold = PortHold()
        try:
            doc = self.request("POST", "/proxies", {"name": proxy_id, "listen": hold.address, "upstream": upstream})
        except BaseException:
            hold.close()
            raise
        link = Link(self, name, proxy_id, listen=doc["listen"], upstream=upstream, hold=hold)
        self._links[proxy_id] = link
        return link

    def links(self) -> list[Link]:
        return list(self._links.values())

    def _forget(self, link: Link) -> None:
        self._links.pop(link.proxy_id, None)


@dataclass
class Toxic:
    """One toxic on one link, in one direction; :meth:`remove` lifts it (idempotent)."""

    link: Link
    name: str
    kind: str  # toxiproxy's toxic type
    stream: str
    attributes: dict[str, float]
    toxicity: float
    removed: bool = False

    def remove(self) -> None:
        if not self.removed:
            self.removed = True
            self.link._remove_toxic(self)


class ToxicSet:
    """The toxics one call added (one per direction); removed together, by
    :meth:`remove` or on leaving its ``with`` block."""

    def __init__(self, toxics: list[Toxic]) -> None:
        self.toxics = toxics

    def remove(self) -> None:
        for toxic in self.toxics:
            toxic.remove()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<ToxicSet {[(t.kind, t.stream, t.attributes) for t in self.toxics]}>"


class Link:
    """A proxy between two parts of a stack: clients connect to
    :attr:`listen`, the proxy forwards to :attr:`upstream`."""

    def __init__(
        self, server: ToxiproxyServer, name: str, proxy_id: str, *, listen: str, upstream: str, hold: PortHold
    ) -> None:
        self.server = server
        self._hold = hold
        self.name = name
        self.proxy_id = proxy_id
        self.listen = listen
        self.upstream = upstream
        self._toxics: dict[str, Toxic] = {}
        self._counter = itertools.count(1)
        self.enabled = True
        self.rebuilds = 0  # times the proxy was rebuilt because a removal hung (toxiproxy#558)

    def __repr__(self) -> str:
        state = "up" if self.enabled else "down"
        return f"<Link {self.name} {self.listen}->{self.upstream} {state} toxics={sorted(self._toxics)}>"

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    # ------------------------------------------------------------ state

    def down(self) -> Self:
        """Take the link down: new connections are refused and open ones cut
        (toxiproxy's ``enabled: false``)."""
        self.server.request("POST", f"/proxies/{self.proxy_id}", {"enabled": False})
        self.enabled = False
        return self

    def up(self) -> Self:
        """Bring a downed link back on the same port."""
        self.server.request("POST", f"/proxies/{self.proxy_id}", {"enabled": True})
        self.enabled = True
        return self

    def heal(self) -> Self:
        """Remove every toxic and bring the link up: the link as it was made, on
        the same port. Open connections stay where toxiproxy keeps them
        (:data:`KEEPS_CONNECTIONS`); a downed link had closed them already."""
        for toxic in self.toxics():
            toxic.remove()
        if not self.enabled:
            self.up()
        return self

    @contextlib.contextmanager
    def outage(self) -> Iterator[Self]:
        """The link is down inside the block and up again after it."""
        self.down()
        try:
            yield self
        finally:
            self.up()

    def toxics(self) -> list[Toxic]:
        return list(self._toxics.values())

    def delete(self) -> None:
        """Remove the proxy from the server, and let its port go."""
        with contextlib.suppress(ToxiproxyError, requests.RequestException):
            self.server.request("DELETE", f"/proxies/{self.proxy_id}")
        self._toxics.clear()
        self._hold.close()
        self.server._forget(self)

    # ------------------------------------------------------------ toxics

    def add(
        self, kind: str, *, direction: Direction = "downstream", toxicity: float = 1.0, **attributes: float
    ) -> ToxicSet:
        """Add a toxic of type ``kind`` with ``attributes`` (toxiproxy's names) in
        ``direction``; ``toxicity`` is the share of connections it hits."""
        if not 0.0 <= toxicity <= 1.0:
            raise ValueError(f"toxicity must be within [0, 1], not {toxicity}")
        if direction not in _STREAMS:
            raise ValueError(f"direction must be one of {sorted(_STREAMS)}, not {direction!r}")
        made = []
        for stream in _STREAMS[direction]:
            toxic = Toxic(self, f"{kind}_{stream}_{next(self._counter)}", kind, stream, dict(attributes), toxicity)
            self._post_toxic(toxic)
            made.append(toxic)
        return ToxicSet(made)

    def _remove_toxic(self, toxic: Toxic) -> None:
        if self._toxics.pop(toxic.name, None) is None or self.proxy_id not in self.server._links:
            return
        try:
            self.server.request("DELETE", f"/proxies/{self.proxy_id}/toxics/{toxic.name}", timeout=REMOVE_TIMEOUT)
        except requests.Timeout:
            self._rebuild(keep=list(self._toxics.values()), enabled=self.enabled)

    def _rebuild(self, *, keep: list[Toxic], enabled: bool) -> None:
        """Delete the proxy and make it again on the same port, enabled or
        not, with the toxics in ``keep`` (see the module's note on #558)."""
        self.rebuilds += 1
        with contextlib.suppress(ToxiproxyError):
            self.server.request("DELETE", f"/proxies/{self.proxy_id}")
        body = {"name": self.proxy_id, "listen": self.listen, "upstream": self.upstream, "enabled": enabled}
        self.server.request("POST", "/proxies", body)
        self.enabled = enabled
        self._toxics = {}
        for toxic in keep:
            self._post_toxic(toxic)

    def _post_toxic(self, toxic: Toxic) -> None:
        body = {
            "name": toxic.name,
            "type": toxic.kind,
            "stream": toxic.stream,
            "toxicity": toxic.toxicity,
            "attributes": toxic.attributes,
        }
        self.server.request("POST", f"/proxies/{self.proxy_id}/toxics", body)
        self._toxics[toxic.name] = toxic

    def latency(
        self, ms: int, *, jitter: int = 0, direction: Direction = "downstream", toxicity: float = 1.0
    ) -> ToxicSet:
        """Delay the data by ``ms`` ± ``jitter`` milliseconds."""
        return self.add("latency", direction=direction, toxicity=toxicity, latency=ms, jitter=jitter)

    def blackhole(self, *, direction: Direction = "both", toxicity: float = 1.0) -> ToxicSet:
        """Let nothing through and keep the connections open: a peer that
        accepts but never answers (toxiproxy's ``timeout`` with 0)."""
        return self.add("timeout", direction=direction, toxicity=toxicity, timeout=0)

    def timeout(self, ms: int, *, direction: Direction = "both", toxicity: float = 1.0) -> ToxicSet:
        """Let nothing through and close each connection after ``ms``."""
        return self.add("timeout", direction=direction, toxicity=toxicity, timeout=ms)

    def reset_peer(self, ms: int = 0, *, direction: Direction = "downstream", toxicity: float = 1.0) -> ToxicSet:
        """Reset every connection (TCP RST) at once or after ``ms``."""
        return self.add("reset_peer", direction=direction, toxicity=toxicity, timeout=ms)

    def bandwidth(self, kb_per_s: int, *, direction: Direction = "downstream", toxicity: float = 1.0) -> ToxicSet:
        """Limit the link to ``kb_per_s`` kilobytes a second."""
        return self.add("bandwidth", direction=direction, toxicity=toxicity, rate=kb_per_s)

    def slicer(
        self,
        average_size: int,
        *,
        size_variation: int = 0,
        delay_us: int = 0,
        direction: Direction = "downstream",
        toxicity: float = 1.0,
    ) -> ToxicSet:
        """Cut the data into pieces of about ``average_size`` bytes, ``delay_us`` apart."""
        return self.add(
            "slicer",
            direction=direction,
            toxicity=toxicity,
            average_size=average_size,
            size_variation=size_variation,
            delay=delay_us,
        )

    def slow_close(self, ms: int, *, direction: Direction = "downstream", toxicity: float = 1.0) -> ToxicSet:
        """Delay closing each connection by ``ms``."""
        return self.add("slow_close", direction=direction, toxicity=toxicity, delay=ms)

    def limit_data(self, nbytes: int, *, direction: Direction = "downstream", toxicity: float = 1.0) -> ToxicSet:
        """Close each connection once ``nbytes`` have passed."""
        return self.add("limit_data", direction=direction, toxicity=toxicity, bytes=nbytes)
