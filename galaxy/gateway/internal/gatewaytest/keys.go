package gatewaytest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"galaxy/gateway/internal/tokenverify"
)

// Key is an Ed25519 signing key and its kid.
type Key struct {
	ID      string
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
}

// NewKey generates a key named kid.
func NewKey(tb testing.TB, kid string) Key {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatalf("generate key: %v", err)
	}
	return Key{ID: kid, Private: priv, Public: pub}
}

// JWK is the public JSON Web Key of k.
func (k Key) JWK() map[string]string {
	return map[string]string{
		"kty": "OKP", "crv": "Ed25519", "kid": k.ID, "alg": "EdDSA", "use": "sig",
		"x": base64.RawURLEncoding.EncodeToString(k.Public),
	}
}

// JWKS is the public key set of keys.
func JWKS(tb testing.TB, keys ...Key) []byte {
	tb.Helper()
	set := struct {
		Keys []map[string]string `json:"keys"`
	}{Keys: []map[string]string{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	data, err := json.Marshal(set)
	if err != nil {
		tb.Fatalf("encode jwks: %v", err)
	}
	return data
}

// WriteFile writes data to a new file in a test directory and returns its path.
func WriteFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatalf("write %s: %v", name, err)
	}
	return path
}

// KeySet parses the key set of keys.
func KeySet(tb testing.TB, keys ...Key) *tokenverify.KeySet {
	tb.Helper()
	ks, err := tokenverify.ParseJWKS(JWKS(tb, keys...))
	if err != nil {
		tb.Fatalf("parse jwks: %v", err)
	}
	return ks
}

// Claims are an access token's claims; Map renders them for signing.
type Claims struct {
	Issuer, Audience, Subject, SessionID, Type, ID string
	IssuedAt, NotBefore, ExpiresAt                 time.Time
}

// AccessClaims returns valid claims for user and session, issued at now and
// valid for 15 minutes.
func AccessClaims(user, session string, now time.Time) Claims {
	return Claims{
		Issuer: Issuer, Audience: Audience, Subject: user, SessionID: session, Type: "access", ID: "jti-1",
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(15 * time.Minute),
	}
}

// Map renders c as JWT claims, leaving out empty values.
func (c Claims) Map() jwt.MapClaims {
	m := jwt.MapClaims{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("iss", c.Issuer)
	set("aud", c.Audience)
	set("sub", c.Subject)
	set("sid", c.SessionID)
	set("typ", c.Type)
	set("jti", c.ID)
	for k, t := range map[string]time.Time{"iat": c.IssuedAt, "nbf": c.NotBefore, "exp": c.ExpiresAt} {
		if !t.IsZero() {
			m[k] = t.Unix()
		}
	}
	return m
}

// Sign returns c signed by k as authsession would sign it.
func (k Key) Sign(tb testing.TB, c Claims) string {
	tb.Helper()
	return k.SignMap(tb, c.Map())
}

// SignMap returns the claims m, whatever they hold, signed by k.
func (k Key) SignMap(tb testing.TB, m jwt.MapClaims) string {
	tb.Helper()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, m)
	t.Header["kid"] = k.ID
	s, err := t.SignedString(k.Private)
	if err != nil {
		tb.Fatalf("sign token: %v", err)
	}
	return s
}
