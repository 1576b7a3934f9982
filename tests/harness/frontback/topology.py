"""front calls back, and both call Redis, for each request: the whole declaration."""

from __future__ import annotations

from harness.topology.declaration import REDIS_URL, Script, Service, Topology, Value, redis_prefix, url


def fake(name: str, **env: Value) -> Service:
    """A fake service in mode relay, serving HTTP on its listener ``tcp``."""
    return Service(
        name,
        listens={"tcp": "FAKE_ADDR"},
        ready_file="FAKE_READY_FILE",
        program=Script("tests/harness/fake_service.py"),
        inherits_listeners=True,
        env={
            "FAKE_MODE": "relay",
            "FAKE_NAME": name,
            "FAKE_REDIS_URL": REDIS_URL,
            "FAKE_REDIS_PREFIX": redis_prefix(),
            **env,
        },
    )


TOPOLOGY = Topology(
    name="frontback",
    services=(fake("back"), fake("front", FAKE_UPSTREAM=url("back", "tcp"))),
    clients={"front": ("tcp",)},
)
