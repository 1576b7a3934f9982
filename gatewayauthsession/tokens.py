"""Forged and altered access tokens, built from the public token contract."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt

from harness.keys import SigningKey, b64url

__all__ = ["claims_of", "header_of", "sign", "sign_hs256_with_public_key", "tamper_claim", "unsigned"]


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
