"""Ed25519 signing keys for a stack: a private key for the issuer, a JWKS for verifiers.

The formats are the public ones of ``contracts/tokens.md``: PKCS#8 PEM for
the signer, a JSON Web Key Set (OKP / Ed25519) for the verifier.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["KeySet", "SigningKey", "b64url"]


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
