"""The gateway ↔ authsession boundary, declared: Redis, the mail and user stubs,
Ed25519 keys, and both services told where the others are. The real user
service can stand in for the user stub (``--real user``; the authsessionuser
suite runs these parts with it): its public API serves authsession's
``AUTHSESSION_USER_URL``, its own keys live under a prefix of their own, and it
tells authsession when a user is disabled."""

from __future__ import annotations

from harness.topology.declaration import (
    REDIS_URL,
    Redis,
    Service,
    StandIn,
    Topology,
    address,
    material,
    redis_prefix,
    url,
)

DOCS = "galaxy/README.md"

USER_SERVICE = Service(
    "user",
    listens={"http": "USER_HTTP_ADDR", "admin": "USER_ADMIN_ADDR"},
    ready_file="USER_READY_FILE",
    docs=f"{DOCS}#user",
    probes={"http": "/readyz", "admin": "/readyz"},
    env={
        "USER_REDIS_URL": REDIS_URL,
        "USER_REDIS_KEY_PREFIX": redis_prefix("user/"),  # apart from authsession's keys, inside the stack's
        "USER_AUTHSESSION_ADDR": address("authsession", "grpc"),
        "USER_LOG_LEVEL": "debug",
    },
)

TOPOLOGY = Topology(
    name="gatewayauthsession",
    redis=Redis(keyspace="contracts.redis_schema:public_keyspace"),
    stubs={"mail": "contracts.mail.stub:MailStub", "user": "contracts.user.stub:UserStub"},
    materials={"keys": "contracts.tokens:KeySet"},
    services=(
        Service(
            "authsession",
            listens={"grpc": "AUTHSESSION_GRPC_ADDR"},
            ready_file="AUTHSESSION_READY_FILE",
            docs=f"{DOCS}#authsession",
            env={
                "AUTHSESSION_REDIS_URL": REDIS_URL,
                "AUTHSESSION_REDIS_KEY_PREFIX": redis_prefix(),
                "AUTHSESSION_MAIL_URL": url("mail"),
                "AUTHSESSION_USER_URL": url("user"),
                "AUTHSESSION_SIGNING_KEY_FILE": material("keys", "private_key"),
                "AUTHSESSION_SIGNING_KEY_ID": material("keys", "kid"),
                "AUTHSESSION_LOG_LEVEL": "debug",  # every line the leaked-secret check reads
            },
        ),
        Service(
            "gateway",
            listens={"http": "GATEWAY_HTTP_ADDR", "grpc": "GATEWAY_GRPC_ADDR"},
            ready_file="GATEWAY_READY_FILE",
            docs=f"{DOCS}#gateway",
            probes={"http": "/readyz"},
            env={
                "GATEWAY_AUTHSESSION_ADDR": address("authsession", "grpc"),
                "GATEWAY_REDIS_URL": REDIS_URL,
                "GATEWAY_REDIS_KEY_PREFIX": redis_prefix(),
                "GATEWAY_JWKS_FILE": material("keys", "jwks"),
                "GATEWAY_LOG_LEVEL": "debug",
            },
        ),
    ),
    clients={"gateway": ("http", "grpc"), "authsession": ("grpc",)},
    stack="gatewayauthsession.stack:Stack",
    notes="gatewayauthsession.explore:notes",
    stand_ins={"user": StandIn(USER_SERVICE, "http")},
)
