package auth_test

// The GatewayCompatibility tests pin what authsession hands to the gateway —
// the access token and the Redis session record — to contracts/tokens.md and
// contracts/redis.md, verifying them the way the gateway does.

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"galaxy/authsession/internal/authtest"
)

// jwks is a JSON Web Key Set as the gateway loads it (GATEWAY_JWKS_FILE).
type jwks struct {
	Keys []struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		Kid string `json:"kid"`
		X   string `json:"x"`
		Alg string `json:"alg"`
		Use string `json:"use"`
	} `json:"keys"`
}

// publicJWKS renders pub as the key set of contracts/tokens.md.
func publicJWKS(t *testing.T, kid string, pub ed25519.PublicKey) []byte {
	t.Helper()
	doc := fmt.Sprintf(`{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": %q, "x": %q, "alg": "EdDSA", "use": "sig"}]}`,
		kid, base64.RawURLEncoding.EncodeToString(pub))
	return []byte(doc)
}

// gatewayKeyfunc resolves a token's key from a JWKS document the way the
// gateway does: by kid, Ed25519 OKP keys only.
func gatewayKeyfunc(t *testing.T, doc []byte) jwt.Keyfunc {
	t.Helper()
	var set jwks
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	return func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		for _, k := range set.Keys {
			if k.Kid != kid {
				continue
			}
			if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" {
				return nil, fmt.Errorf("key %q is not an EdDSA Ed25519 key", kid)
			}
			x, err := base64.RawURLEncoding.DecodeString(k.X)
			if err != nil || len(x) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("key %q: bad x", kid)
			}
			return ed25519.PublicKey(x), nil
		}
		return nil, fmt.Errorf("no key %q in the set", kid)
	}
}

// decodeSegment decodes one base64url part of a compact JWS into a map,
// keeping numbers exact.
func decodeSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q is not base64url without padding: %v", seg, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("segment %s is not a JSON object: %v", raw, err)
	}
	return m
}

func fixedClockEnv(t *testing.T) (*authtest.Env, time.Time) {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	env := authtest.New(t, authtest.Options{Now: func() time.Time { return now }})
	env.Redis.SetTime(now)
	return env, now
}

func TestGatewayCompatibilityAccessToken(t *testing.T) {
	t.Parallel()
	env, now := fixedClockEnv(t)
	id, code := startLogin(t, env, "alice@example.com")
	res := confirm(t, env, id, code)
	access := res.Tokens.AccessToken

	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		t.Fatalf("access token has %d parts, want a three-part compact JWS", len(parts))
	}

	header := decodeSegment(t, parts[0])
	wantHeader := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": authtest.KeyID}
	if !maps.Equal(header, wantHeader) {
		t.Errorf("header = %v, want exactly %v", header, wantHeader)
	}

	claims := decodeSegment(t, parts[1])
	wantNames := []string{"aud", "exp", "iat", "iss", "jti", "nbf", "sid", "sub", "typ"}
	if got := slices.Sorted(maps.Keys(claims)); !slices.Equal(got, wantNames) {
		t.Errorf("claims = %v, want exactly %v", got, wantNames)
	}
	wantStrings := map[string]string{
		"iss": authtest.Issuer,
		"aud": authtest.Audience, // a single string, not an array
		"sub": res.Session.UserID,
		"sid": res.Session.ID,
		"typ": "access",
	}
	for name, want := range wantStrings {
		if got, ok := claims[name].(string); !ok || got != want {
			t.Errorf("claim %s = %#v, want the string %q", name, claims[name], want)
		}
	}
	if jti, ok := claims["jti"].(string); !ok || jti == "" {
		t.Errorf("claim jti = %#v, want a non-empty string", claims["jti"])
	}
	numeric := map[string]int64{}
	for _, name := range []string{"iat", "nbf", "exp"} {
		n, ok := claims[name].(json.Number)
		v, err := strconv.ParseInt(string(n), 10, 64)
		if !ok || err != nil {
			t.Fatalf("claim %s = %#v, want integer NumericDate seconds", name, claims[name])
		}
		numeric[name] = v
	}
	if numeric["iat"] != now.Unix() || numeric["nbf"] != numeric["iat"] {
		t.Errorf("iat, nbf = %d, %d; want both %d", numeric["iat"], numeric["nbf"], now.Unix())
	}
	if got, want := numeric["exp"]-numeric["iat"], int64(env.Options.AccessTokenTTL/time.Second); got != want {
		t.Errorf("exp - iat = %d, want %d (the access-token lifetime)", got, want)
	}
	if got := res.Tokens.AccessTokenExpiresAt.Unix(); got != numeric["exp"] {
		t.Errorf("access_token_expires_at = %d, want the exp claim %d", got, numeric["exp"])
	}

	// Verify as the gateway does, against the public key published as a JWKS.
	keyfunc := gatewayKeyfunc(t, publicJWKS(t, authtest.KeyID, env.PublicKey))
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithIssuer(authtest.Issuer),
		jwt.WithAudience(authtest.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	tok, err := parser.Parse(access, keyfunc)
	if err != nil || !tok.Valid {
		t.Fatalf("gateway-style verification failed: %v", err)
	}

	t.Run("other key rejected", func(t *testing.T) {
		other, _, _ := ed25519.GenerateKey(nil)
		if _, err := parser.Parse(access, gatewayKeyfunc(t, publicJWKS(t, authtest.KeyID, other))); err == nil {
			t.Error("token verified with a different public key")
		}
	})
	t.Run("unknown kid rejected", func(t *testing.T) {
		if _, err := parser.Parse(access, gatewayKeyfunc(t, publicJWKS(t, "other-kid", env.PublicKey))); err == nil {
			t.Error("token verified although its kid is not in the key set")
		}
	})
	t.Run("expired after its lifetime", func(t *testing.T) {
		late := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithLeeway(30*time.Second),
			jwt.WithTimeFunc(func() time.Time { return now.Add(env.Options.AccessTokenTTL + 31*time.Second) }))
		if _, err := late.Parse(access, keyfunc); err == nil {
			t.Error("token still valid after exp + leeway")
		}
	})
}

func TestGatewayCompatibilitySessionRecord(t *testing.T) {
	t.Parallel()
	env, now := fixedClockEnv(t)
	id, code := startLogin(t, env, "Alice@Example.com")
	res := confirm(t, env, id, code)
	s := res.Session

	key := authtest.Prefix + "session:" + s.ID
	if !env.Redis.Exists(key) {
		t.Fatalf("session key %s does not exist; keys: %v", key, env.Redis.Keys())
	}
	if got := env.Redis.Type(key); got != "hash" {
		t.Fatalf("session key type = %q, want hash", got)
	}
	expires := now.Add(env.Options.SessionTTL)
	want := map[string]string{
		"session_id": s.ID,
		"user_id":    s.UserID,
		"email":      "alice@example.com",
		"status":     "active",
		"created_at": strconv.FormatInt(now.Unix(), 10),
		"expires_at": strconv.FormatInt(expires.Unix(), 10),
	}
	fields, _ := env.Redis.HKeys(key)
	got := make(map[string]string, len(fields))
	for _, f := range fields {
		got[f] = env.Redis.HGet(key, f)
	}
	if !maps.Equal(got, want) {
		t.Errorf("session record = %v, want exactly %v", got, want)
	}
	if len(s.ID) != 22 {
		t.Errorf("session id %q has %d characters, want 22", s.ID, len(s.ID))
	}
	// The key expires when the session does: expires_at equals the expiry.
	if got := env.Redis.TTL(key); got != env.Options.SessionTTL {
		t.Errorf("session key TTL = %v, want %v (expires_at - now)", got, env.Options.SessionTTL)
	}
	if !s.ExpiresAt.Equal(expires) || !s.CreatedAt.Equal(now) {
		t.Errorf("returned session created %v expires %v, want %v and %v", s.CreatedAt, s.ExpiresAt, now, expires)
	}

	// Liveness as the gateway checks it, against the token's claims.
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(res.Tokens.AccessToken, claims); err != nil {
		t.Fatalf("parse token: %v", err)
	}
	if claims["sid"] != got["session_id"] || claims["sub"] != got["user_id"] {
		t.Errorf("token sid, sub = %v, %v; session record has %q, %q", claims["sid"], claims["sub"], got["session_id"], got["user_id"])
	}
	if exp, _ := strconv.ParseInt(got["expires_at"], 10, 64); exp <= now.Unix() {
		t.Errorf("expires_at %d is not in the future of %d", exp, now.Unix())
	}

	t.Run("expires with its key", func(t *testing.T) {
		env.Redis.FastForward(env.Options.SessionTTL)
		if env.Redis.Exists(key) {
			t.Error("session key outlives expires_at")
		}
	})
}
