from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from contracts.tokens import KeySet, SigningKey


def test_written_keys_are_a_matching_pem_and_jwks(tmp_path: Path) -> None:
    keys = KeySet(others=[SigningKey.generate()])
    private_path, jwks_path = keys.write(tmp_path)

    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    private = load_pem_private_key(private_path.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)

    jwks = json.loads(jwks_path.read_text())
    assert [k["kid"] for k in jwks["keys"]] == [keys.current.kid, keys.others[0].kid]
    first = jwks["keys"][0]
    assert (first["kty"], first["crv"], first["alg"], first["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(first["x"] + "=="))
    public.verify(private.sign(b"message"), b"message")  # raises if they do not match


def test_generated_kids_are_distinct() -> None:
    assert len({SigningKey.generate().kid for _ in range(50)}) == 50
