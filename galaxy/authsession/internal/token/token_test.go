package token_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"galaxy/authsession/internal/token"
)

func pemBlock(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal PKCS#8: %v", err)
	}
	return pemBlock(t, "PRIVATE KEY", der)
}

func TestParsePrivateKey(t *testing.T) {
	t.Parallel()
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	pubDER, _ := x509.MarshalPKIXPublicKey(edKey.Public())

	t.Run("Ed25519 PKCS#8", func(t *testing.T) {
		t.Parallel()
		got, err := token.ParsePrivateKey(pkcs8(t, edKey))
		if err != nil || !got.Equal(edKey) {
			t.Errorf("ParsePrivateKey() = %v, %v; want the key", got, err)
		}
	})

	cases := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "no PEM block"},
		{"not PEM", []byte("hello"), "no PEM block"},
		{"ECDSA PKCS#8", pkcs8(t, ecKey), "want an Ed25519 key"},
		{"SEC1 EC key", pemBlock(t, "EC PRIVATE KEY", ecDER), `want "PRIVATE KEY"`},
		{"public key", pemBlock(t, "PUBLIC KEY", pubDER), `want "PRIVATE KEY"`},
		{"corrupt PKCS#8", pemBlock(t, "PRIVATE KEY", []byte{1, 2, 3}), "signing key:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := token.ParsePrivateKey(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePrivateKey() error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadPrivateKey(t *testing.T) {
	t.Parallel()
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pkcs8(t, edKey), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := token.LoadPrivateKey(path); err != nil || !got.Equal(edKey) {
		t.Errorf("LoadPrivateKey() = %v, %v; want the key", got, err)
	}
	if _, err := token.LoadPrivateKey(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("LoadPrivateKey(missing file) succeeded")
	}
}

func TestNewIssuerChecksOptions(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	valid := token.IssuerOptions{KeyID: "k", Issuer: "i", Audience: "a", TTL: time.Minute}
	cases := []struct {
		name string
		key  ed25519.PrivateKey
		edit func(*token.IssuerOptions)
	}{
		{"no key", nil, func(*token.IssuerOptions) {}},
		{"no kid", key, func(o *token.IssuerOptions) { o.KeyID = "" }},
		{"no issuer", key, func(o *token.IssuerOptions) { o.Issuer = "" }},
		{"no audience", key, func(o *token.IssuerOptions) { o.Audience = "" }},
		{"no lifetime", key, func(o *token.IssuerOptions) { o.TTL = 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := valid
			tc.edit(&opts)
			if _, err := token.NewIssuer(tc.key, opts); err == nil {
				t.Error("NewIssuer succeeded, want an error")
			}
		})
	}
}

func TestIssue(t *testing.T) {
	t.Parallel()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	iss, err := token.NewIssuer(key, token.IssuerOptions{KeyID: "k1", Issuer: "me", Audience: "you", TTL: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 700_000_000)
	signed, exp, err := iss.Issue("user-1", "sess-1", now)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if want := time.Unix(1_800_000_000+15*60, 0); !exp.Equal(want) {
		t.Errorf("expiry = %v, want %v", exp, want)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(func() time.Time { return now })).
		ParseWithClaims(signed, claims, func(*jwt.Token) (any, error) { return pub, nil })
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if claims["sub"] != "user-1" || claims["sid"] != "sess-1" || claims["iat"] != float64(1_800_000_000) {
		t.Errorf("claims = %v", claims)
	}

	other, _, _ := iss.Issue("user-1", "sess-1", now)
	if other == signed {
		t.Error("two tokens are identical; want a fresh jti each time")
	}
}
