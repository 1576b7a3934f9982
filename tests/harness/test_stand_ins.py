"""A real service standing in for a stub (``Topology.stand_ins``, ``--real NAME``): the declaration it makes,
and how a run asks for it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gatewayauthsession.topology import TOPOLOGY
from harness.paths import PROJECT_ROOT
from harness.topology.declaration import Service, StandIn, Topology, Url, address, url


def test_the_real_service_takes_the_stubs_place_and_its_edges() -> None:
    real = TOPOLOGY.with_real("user")

    assert "user" not in real.stubs
    assert [s.name for s in real.services] == ["authsession", "gateway", "user"]
    assert real.service("authsession").env["AUTHSESSION_USER_URL"] == Url("user", "http")
    assert real.edge("authsession->user").listener == "http"
    assert {"user->authsession", "user->redis", "test->user/http", "test->user/admin"} <= {e.name for e in real.edges()}
    assert real.clients["user"] == ("http", "admin")
    assert real.stand_ins == {}
    assert TOPOLOGY.with_real() is TOPOLOGY


def test_only_a_declared_stand_in_can_be_asked_for() -> None:
    with pytest.raises(ValueError, match=r"no real service to stand in for \['mail'\]"):
        TOPOLOGY.with_real("mail")
    with pytest.raises(ValueError, match="stand-in for 'nothing', which is no stub"):
        Topology(
            "t",
            (Service("a", listens={"http": "A_HTTP_ADDR"}, ready_file="A_READY_FILE"),),
            stand_ins={"nothing": StandIn(Service("b", {"http": "B_ADDR"}, "B_READY"), "http")},
        )


def test_a_url_of_a_service_names_one_of_its_listeners() -> None:
    a = Service("a", listens={"http": "A_HTTP_ADDR"}, ready_file="A_READY_FILE")
    good = Topology("t", (a, Service("b", {"grpc": "B_ADDR"}, "B_READY", env={"B_A_URL": url("a", "http")})))
    assert good.edge("b->a").listener == "http"
    with pytest.raises(ValueError, match="no service listener a/admin"):
        Topology("t", (a, Service("b", {"grpc": "B_ADDR"}, "B_READY", env={"B_A_URL": url("a", "admin")})))
    with pytest.raises(ValueError, match="no stub 'a'"):
        Topology(
            "t", (a, Service("b", {"grpc": "B_ADDR"}, "B_READY", env={"B_A_URL": url("a"), "X": address("a", "http")}))
        )


def test_a_run_asking_for_a_stand_in_no_suite_has_stops_with_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "gatewayauthsession/test_login.py", "--collect-only", "-q", "--real", "mail"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "--real mail: no suite of this run has a real service to stand in for that stub" in proc.stderr
