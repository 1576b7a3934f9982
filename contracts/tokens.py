"""The token contract of ``contracts/tokens.md`` in Python: Ed25519 signing
keys for a stack (a private key for the issuer in PKCS#8 PEM, a JSON Web Key
Set, OKP / Ed25519, for verifiers), reading a token's header and claims, and
forging and altering tokens the way an attacker would; and the refresh
tokens authsession derives from its signing key (:func:`initial_refresh_token`,
:func:`successor_refresh_token`), which whoever holds the key can compute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "KeySet",
    "SigningKey",
    "b64url",
    "claims_of",
    "header_of",
    "initial_refresh_token",
    "sign",
    "sign_hs256_with_public_key",
    "successor_refresh_token",
    "tamper_claim",
    "unsigned",
]


def b64url(data: bytes) -> str:
    """base64url without padding, as JOSE writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        return cls(kid or f"k-{secrets.token_hex(6)}", Ed25519PrivateKey.generate())

    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": self.kid,
            "x": b64url(self.public_raw()),
            "alg": "EdDSA",
            "use": "sig",
        }


@dataclass
class KeySet:
    """The keys one stack trusts; ``current`` is the one the issuer signs with."""

    current: SigningKey = field(default_factory=SigningKey.generate)
    others: list[SigningKey] = field(default_factory=list)

    @property
    def keys(self) -> list[SigningKey]:
        return [self.current, *self.others]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.keys]}

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write the current private key (mode 0600) and the JWKS; return both paths."""
        directory.mkdir(parents=True, exist_ok=True)
        private = directory / f"{self.current.kid}.pem"
        private.touch(mode=0o600)
        private.write_bytes(self.current.private_pem())
        jwks = directory / "jwks.json"
        jwks.write_text(json.dumps(self.jwks()))
        return private, jwks

    def files(self, directory: Path) -> dict[str, str]:
        """:meth:`write`, as a stack's material: ``private_key`` and ``jwks`` (paths) and the signer's ``kid``."""
        private, jwks = self.write(directory)
        return {"private_key": str(private), "jwks": str(jwks), "kid": self.current.kid}


# ------------------------------------------------------------------ reading and forging tokens


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def header_of(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(_b64url_decode(token.split(".", maxsplit=1)[0]))
    return header


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(_b64url_decode(token.split(".")[1]))
    return claims


def sign(claims: dict[str, Any], key: SigningKey, **header: Any) -> str:
    """A correctly formed EdDSA token signed by ``key``, with ``header`` added to its header."""
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid, "typ": "JWT", **header})


def tamper_claim(token: str, name: str, value: Any) -> str:
    """``token`` with one claim changed and the original signature kept."""
    header, _, signature = token.split(".")
    claims = claims_of(token) | {name: value}
    return ".".join([header, b64url(json.dumps(claims, separators=(",", ":")).encode()), signature])


def unsigned(claims: dict[str, Any], kid: str) -> str:
    """An ``alg: none`` token: no signature at all."""
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), ""])


def sign_hs256_with_public_key(claims: dict[str, Any], key: SigningKey) -> str:
    """The algorithm-confusion attack: HS256 keyed with the (public) verification key."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    mac = hmac.new(key.public_raw(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}"


# ------------------------------------------------------------------ refresh tokens (tokens.md, "Refresh token")

REFRESH_KEY_LABEL = b"galaxy/authsession refresh-token HMAC key v1"


def _refresh_key(key: SigningKey) -> bytes:
    """K = HMAC-SHA-256(seed, label), the seed being the signing key's 32 raw private bytes."""
    seed = key.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return hmac.new(seed, REFRESH_KEY_LABEL, hashlib.sha256).digest()


def _derived(key: SigningKey, label: str, *parts: str) -> str:
    message = label.encode() + b"".join(b"\x00" + part.encode() for part in parts)
    return b64url(hmac.new(_refresh_key(key), message, hashlib.sha256).digest())


def initial_refresh_token(key: SigningKey, challenge_id: str, code: str) -> str:
    """T₀ of the session that challenge ``challenge_id`` opened with ``code``, under signing key ``key``."""
    return _derived(key, "initial", challenge_id, code)


def successor_refresh_token(key: SigningKey, token: str) -> str:
    """Tₙ₊₁, the refresh token that replaces ``token`` when it is rotated."""
    return _derived(key, "successor", token)
