package tokenverify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"galaxy/gateway/internal/gateway"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/tokenverify"
	"galaxy/platform/apierror"
)

var now = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func newVerifier(t *testing.T, keys ...gatewaytest.Key) *tokenverify.Verifier {
	t.Helper()
	v, err := tokenverify.NewVerifier(gatewaytest.KeySet(t, keys...), gatewaytest.Issuer, gatewaytest.Audience,
		tokenverify.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// encodeSegment is one base64url part of a compact JWS.
func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key := gatewaytest.NewKey(t, "key-1")
	other := gatewaytest.NewKey(t, "key-2")
	stranger := gatewaytest.NewKey(t, "key-9")
	v := newVerifier(t, key, other)
	valid := gatewaytest.AccessClaims("user-1", "sess-1", now)
	with := func(edit func(*gatewaytest.Claims)) gatewaytest.Claims {
		c := valid
		edit(&c)
		return c
	}
	claimsJSON := encodeSegment(t, valid.Map())

	tests := []struct {
		name  string
		token func(t *testing.T) string
		want  gateway.Claims // zero: must be rejected...
		cause string         // ...for a reason containing this
	}{
		{"valid", func(t *testing.T) string { return key.Sign(t, valid) }, gateway.Claims{UserID: "user-1", SessionID: "sess-1"}, ""},
		{"valid under the second key", func(t *testing.T) string { return other.Sign(t, valid) }, gateway.Claims{UserID: "user-1", SessionID: "sess-1"}, ""},
		{"expired within leeway", func(t *testing.T) string {
			return key.Sign(t, with(func(c *gatewaytest.Claims) { c.ExpiresAt = now.Add(-20 * time.Second) }))
		}, gateway.Claims{UserID: "user-1", SessionID: "sess-1"}, ""},
		{"nbf within leeway", func(t *testing.T) string {
			return key.Sign(t, with(func(c *gatewaytest.Claims) { c.NotBefore = now.Add(20 * time.Second) }))
		}, gateway.Claims{UserID: "user-1", SessionID: "sess-1"}, ""},
		{"expired", func(t *testing.T) string {
			return key.Sign(t, with(func(c *gatewaytest.Claims) { c.ExpiresAt = now.Add(-time.Minute) }))
		}, gateway.Claims{}, `token is expired`},
		{"no exp", func(t *testing.T) string {
			return key.Sign(t, with(func(c *gatewaytest.Claims) { c.ExpiresAt = time.Time{} }))
		}, gateway.Claims{}, `exp claim is required`},
		{"nbf in the future", func(t *testing.T) string {
			return key.Sign(t, with(func(c *gatewaytest.Claims) { c.NotBefore = now.Add(time.Minute) }))
		}, gateway.Claims{}, `not valid yet`},
		{"wrong iss", func(t *testing.T) string {
			return key.Sign(t, with(func(c *gatewaytest.Claims) { c.Issuer = "someone-else" }))
		}, gateway.Claims{}, `invalid issuer`},
		{"wrong aud", func(t *testing.T) string {
			return key.Sign(t, with(func(c *gatewaytest.Claims) { c.Audience = "another-service" }))
		}, gateway.Claims{}, `invalid audience`},
		{"wrong typ", func(t *testing.T) string {
			return key.Sign(t, with(func(c *gatewaytest.Claims) { c.Type = "refresh" }))
		}, gateway.Claims{}, `"typ" claim`},
		{"missing sid", func(t *testing.T) string {
			return key.Sign(t, with(func(c *gatewaytest.Claims) { c.SessionID = "" }))
		}, gateway.Claims{}, `"sid" claim`},
		{"missing sub", func(t *testing.T) string {
			return key.Sign(t, with(func(c *gatewaytest.Claims) { c.Subject = "" }))
		}, gateway.Claims{}, `"sub" claim`},
		{"unknown kid", func(t *testing.T) string { return stranger.Sign(t, valid) }, gateway.Claims{}, `unknown kid`},
		{"known kid, other key's signature", func(t *testing.T) string {
			return gatewaytest.Key{ID: key.ID, Private: stranger.Private}.Sign(t, valid)
		}, gateway.Claims{}, `verification error`},
		{"no kid", func(t *testing.T) string {
			return gatewaytest.Key{Private: key.Private}.Sign(t, valid)
		}, gateway.Claims{}, `missing "kid"`},
		{"alg none", func(t *testing.T) string {
			return encodeSegment(t, map[string]string{"alg": "none", "typ": "JWT", "kid": key.ID}) + "." + claimsJSON + "."
		}, gateway.Claims{}, `signing method none is invalid`},
		{"HS256 signed with the public key bytes", func(t *testing.T) string {
			signing := encodeSegment(t, map[string]string{"alg": "HS256", "typ": "JWT", "kid": key.ID}) + "." + claimsJSON
			mac := hmac.New(sha256.New, key.Public)
			mac.Write([]byte(signing))
			return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}, gateway.Claims{}, `signing method HS256 is invalid`},
		{"tampered payload", func(t *testing.T) string {
			parts := strings.Split(key.Sign(t, valid), ".")
			parts[1] = encodeSegment(t, with(func(c *gatewaytest.Claims) { c.Subject = "admin" }).Map())
			return strings.Join(parts, ".")
		}, gateway.Claims{}, `verification error`},
		{"crit header", func(t *testing.T) string {
			parts := strings.Split(key.Sign(t, valid), ".")
			parts[0] = encodeSegment(t, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": key.ID, "crit": []string{"exp"}})
			return strings.Join(parts, ".")
		}, gateway.Claims{}, `"crit"`},
		{"exp as a string", func(t *testing.T) string {
			return key.SignMap(t, withClaim(valid, "exp", strconv.FormatInt(now.Add(time.Minute).Unix(), 10)))
		}, gateway.Claims{}, `"exp" claim is not a number`},
		{"nbf as a string", func(t *testing.T) string {
			return key.SignMap(t, withClaim(valid, "nbf", strconv.FormatInt(now.Unix(), 10)))
		}, gateway.Claims{}, `"nbf" claim is not a number`},
		{"iat as a string", func(t *testing.T) string {
			return key.SignMap(t, withClaim(valid, "iat", strconv.FormatInt(now.Unix(), 10)))
		}, gateway.Claims{}, `"iat" claim is not a number`},
		{"exp beyond the year 9999", func(t *testing.T) string {
			return key.SignMap(t, withClaim(valid, "exp", json.Number("1e300")))
		}, gateway.Claims{}, `"exp" claim is not a usable NumericDate`},
		{"exp in the year 31 million", func(t *testing.T) string {
			return key.SignMap(t, withClaim(valid, "exp", 1e15))
		}, gateway.Claims{}, `"exp" claim is not a usable NumericDate`},
		{"negative nbf", func(t *testing.T) string {
			return key.SignMap(t, withClaim(valid, "nbf", -1))
		}, gateway.Claims{}, `"nbf" claim is not a usable NumericDate`},
		{"negative iat", func(t *testing.T) string {
			return key.SignMap(t, withClaim(valid, "iat", -1))
		}, gateway.Claims{}, `"iat" claim is not a usable NumericDate`},
		{"fractional exp", func(t *testing.T) string {
			return key.SignMap(t, withClaim(valid, "exp", float64(now.Add(time.Minute).Unix())+0.5))
		}, gateway.Claims{UserID: "user-1", SessionID: "sess-1"}, ""},
		{"garbage", func(*testing.T) string { return "not-a-token" }, gateway.Claims{}, `malformed`},
		{"two parts", func(t *testing.T) string {
			parts := strings.Split(key.Sign(t, valid), ".")
			return parts[0] + "." + parts[1]
		}, gateway.Claims{}, `malformed`},
		{"empty", func(*testing.T) string { return "" }, gateway.Claims{}, `malformed`},
		{"oversized", func(t *testing.T) string { return key.Sign(t, valid) + strings.Repeat("A", tokenverify.MaxTokenSize) }, gateway.Claims{}, `longer than`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			token := tt.token(t)
			got, err := v.Verify(token)
			if tt.want != (gateway.Claims{}) {
				if err != nil {
					t.Fatalf("Verify() error = %v, want claims %+v", err, tt.want)
				}
				if got != tt.want {
					t.Errorf("Verify() = %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify() = %+v, want an error", got)
			}
			if !strings.Contains(err.Error(), tt.cause) {
				t.Errorf("Verify() error = %q, want its cause to contain %q", err, tt.cause)
			}
			e := apierror.As(err)
			if e.Code != apierror.Unauthenticated || e.Message != "invalid access token" {
				t.Errorf("Verify() error = %s %q, want UNAUTHENTICATED %q", e.Code, e.Message, "invalid access token")
			}
			if token != "" && strings.Contains(err.Error(), token) {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
}

// withClaim returns c's claims with name set to v.
func withClaim(c gatewaytest.Claims, name string, v any) jwt.MapClaims {
	m := c.Map()
	m[name] = v
	return m
}

func TestNewVerifierChecksItsInputs(t *testing.T) {
	t.Parallel()
	keys := gatewaytest.KeySet(t, gatewaytest.NewKey(t, "k"))
	tests := []struct {
		name          string
		keys          *tokenverify.KeySet
		issuer, audie string
	}{
		{"no keys", nil, "iss", "aud"},
		{"no issuer", keys, "", "aud"},
		{"no audience", keys, "iss", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tokenverify.NewVerifier(tt.keys, tt.issuer, tt.audie); err == nil {
				t.Errorf("NewVerifier() error = nil, want an error")
			}
		})
	}
}
