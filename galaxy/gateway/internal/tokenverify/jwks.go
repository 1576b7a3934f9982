// Package tokenverify verifies the access tokens authsession issues
// (contracts/tokens.md): compact JWS signed with Ed25519 ("EdDSA") under a key
// named by "kid" in the gateway's public key set (JWKS, RFC 7517/8037).
package tokenverify

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
)

// maxJWKSSize bounds the key-set file; a real set is a few hundred bytes.
const maxJWKSSize = 1 << 20

// KeySet holds Ed25519 public keys by key id.
type KeySet struct {
	keys map[string]ed25519.PublicKey
}

// jwk is the subset of RFC 7517/8037 members the gateway understands.
type jwk struct {
	Kty *string `json:"kty"`
	Crv *string `json:"crv"`
	Kid *string `json:"kid"`
	X   *string `json:"x"`
	D   *string `json:"d"`
	Alg *string `json:"alg"`
	Use *string `json:"use"`
}

// LoadJWKSFile reads and parses the key set at path.
func LoadJWKSFile(path string) (*KeySet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxJWKSSize+1)); err != nil {
		return nil, fmt.Errorf("jwks: read %s: %w", path, err)
	}
	if buf.Len() > maxJWKSSize {
		return nil, fmt.Errorf("jwks: %s is larger than %d bytes", path, maxJWKSSize)
	}
	ks, err := ParseJWKS(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return ks, nil
}

// ParseJWKS parses a JSON Web Key Set of Ed25519 public keys. Every key must
// be {"kty": "OKP", "crv": "Ed25519", "kid": <unique, non-empty>, "x": <32
// bytes, base64url>}, with "alg" (if present) "EdDSA" and "use" (if present)
// "sig". A set that is empty, holds a private key or anything else is refused
// whole, so a misconfigured gateway fails at startup rather than per request.
func ParseJWKS(data []byte) (*KeySet, error) {
	var doc struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: not a JSON key set: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`jwks: no "keys" array`)
	}
	if len(*doc.Keys) == 0 {
		return nil, errors.New("jwks: the key set is empty")
	}
	ks := &KeySet{keys: make(map[string]ed25519.PublicKey, len(*doc.Keys))}
	for i, raw := range *doc.Keys {
		kid, key, err := parseKey(raw)
		if err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
		if _, dup := ks.keys[kid]; dup {
			return nil, fmt.Errorf("jwks: key %d: duplicate kid %q", i, kid)
		}
		ks.keys[kid] = key
	}
	return ks, nil
}

func parseKey(raw json.RawMessage) (string, ed25519.PublicKey, error) {
	var k jwk
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", nil, fmt.Errorf("not a JSON Web Key: %w", err)
	}
	switch {
	case k.Kty == nil || *k.Kty != "OKP":
		return "", nil, errors.New(`"kty" must be "OKP"`)
	case k.Crv == nil || *k.Crv != "Ed25519":
		return "", nil, errors.New(`"crv" must be "Ed25519"`)
	case k.Kid == nil || *k.Kid == "":
		return "", nil, errors.New(`"kid" is required`)
	case k.D != nil:
		return "", nil, fmt.Errorf("kid %q: a private key does not belong in the gateway's key set", *k.Kid)
	case k.Alg != nil && *k.Alg != "EdDSA":
		return "", nil, fmt.Errorf(`kid %q: "alg" must be "EdDSA"`, *k.Kid)
	case k.Use != nil && *k.Use != "sig":
		return "", nil, fmt.Errorf(`kid %q: "use" must be "sig"`, *k.Kid)
	case k.X == nil:
		return "", nil, fmt.Errorf(`kid %q: "x" is required`, *k.Kid)
	}
	x, err := base64.RawURLEncoding.Strict().DecodeString(*k.X)
	if err != nil {
		return "", nil, fmt.Errorf(`kid %q: "x" is not base64url without padding: %w`, *k.Kid, err)
	}
	if len(x) != ed25519.PublicKeySize {
		return "", nil, fmt.Errorf(`kid %q: "x" holds %d bytes, want %d`, *k.Kid, len(x), ed25519.PublicKeySize)
	}
	return *k.Kid, ed25519.PublicKey(x), nil
}

// Key returns the public key named kid.
func (ks *KeySet) Key(kid string) (ed25519.PublicKey, bool) {
	k, ok := ks.keys[kid]
	return k, ok
}

// KeyIDs lists the set's key ids, sorted.
func (ks *KeySet) KeyIDs() []string { return slices.Sorted(maps.Keys(ks.keys)) }
