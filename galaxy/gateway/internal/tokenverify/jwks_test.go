package tokenverify_test

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/tokenverify"
)

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	a, b := gatewaytest.NewKey(t, "a"), gatewaytest.NewKey(t, "b")
	set := func(keys ...map[string]string) string {
		data, err := json.Marshal(map[string]any{"keys": keys})
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		return string(data)
	}
	// edit returns k's JWK with field set to value, or removed when value is "".
	edit := func(k gatewaytest.Key, field, value string) map[string]string {
		m := k.JWK()
		if value == "" {
			delete(m, field)
		} else {
			m[field] = value
		}
		return m
	}
	bare := a.JWK()
	delete(bare, "alg")
	delete(bare, "use")

	tests := []struct {
		name    string
		data    string
		wantIDs []string
		wantErr string
	}{
		{"one key", set(a.JWK()), []string{"a"}, ""},
		{"several keys", set(a.JWK(), b.JWK()), []string{"a", "b"}, ""},
		{"no alg or use", set(bare), []string{"a"}, ""},
		{"not JSON", "{", nil, "not a JSON key set"},
		{"no keys member", `{}`, nil, `no "keys" array`},
		{"keys not an array", `{"keys": {}}`, nil, "not a JSON key set"},
		{"empty set", `{"keys": []}`, nil, "empty"},
		{"key not an object", `{"keys": [1]}`, nil, "key 0"},
		{"RSA key", set(edit(a, "kty", "RSA")), nil, `"kty" must be "OKP"`},
		{"X25519 key", set(edit(a, "crv", "X25519")), nil, `"crv" must be "Ed25519"`},
		{"no kid", set(edit(a, "kid", "")), nil, `"kid" is required`},
		{"duplicate kid", set(a.JWK(), edit(b, "kid", "a")), nil, `duplicate kid "a"`},
		{"other alg", set(edit(a, "alg", "RS256")), nil, `"alg" must be "EdDSA"`},
		{"encryption key", set(edit(a, "use", "enc")), nil, `"use" must be "sig"`},
		{"private key", set(edit(a, "d", base64.RawURLEncoding.EncodeToString(a.Private.Seed()))), nil, "private key"},
		{"no x", set(edit(a, "x", "")), nil, `"x" is required`},
		{"x padded", set(edit(a, "x", base64.URLEncoding.EncodeToString(a.Public))), nil, "base64url"},
		{"x short", set(edit(a, "x", base64.RawURLEncoding.EncodeToString(a.Public[:16]))), nil, "16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ks, err := tokenverify.ParseJWKS([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseJWKS() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseJWKS() error = %v", err)
			}
			if got := ks.KeyIDs(); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("KeyIDs() = %v, want %v", got, tt.wantIDs)
			}
		})
	}
}

func TestLoadJWKSFile(t *testing.T) {
	t.Parallel()
	k := gatewaytest.NewKey(t, "k")
	tests := []struct {
		name    string
		path    func(t *testing.T) string
		wantErr string
	}{
		{"valid", func(t *testing.T) string { return gatewaytest.WriteFile(t, "jwks.json", gatewaytest.JWKS(t, k)) }, ""},
		{"missing file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "absent.json") }, "no such file"},
		{"malformed", func(t *testing.T) string { return gatewaytest.WriteFile(t, "jwks.json", []byte("[]")) }, "jwks.json"},
		{"too large", func(t *testing.T) string {
			return gatewaytest.WriteFile(t, "jwks.json", []byte(strings.Repeat(" ", 2<<20)))
		}, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ks, err := tokenverify.LoadJWKSFile(tt.path(t))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadJWKSFile() error = %v", err)
				}
				if _, ok := ks.Key("k"); !ok {
					t.Errorf("Key(%q) missing", "k")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadJWKSFile() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
