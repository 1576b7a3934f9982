package auth_test

// The GatewayCompatibility tests pin what authsession hands to the gateway —
// the access token and the Redis session record — to contracts/tokens.md and
// contracts/redis.md, verifying them the way the gateway does.

import (
	"context"
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

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/apierror"
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
	env, c := clockEnv(t, authtest.Options{})
	return env, c.Now()
}

// gatewayParser verifies tokens the way the gateway does, at now.
func gatewayParser(now time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithIssuer(authtest.Issuer),
		jwt.WithAudience(authtest.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
}

// wantAccessToken fails unless g's access token, issued at now, is exactly
// the token of contracts/tokens.md for g's session and verifies as the
// gateway verifies it.
func wantAccessToken(t *testing.T, env *authtest.Env, g auth.Grant, now time.Time) {
	t.Helper()
	access := g.Tokens.AccessToken
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
		"sub": g.Session.UserID,
		"sid": g.Session.ID,
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
	if got := g.Tokens.AccessTokenExpiresAt.Unix(); got != numeric["exp"] {
		t.Errorf("access_token_expires_at = %d, want the exp claim %d", got, numeric["exp"])
	}

	// Verify as the gateway does, against the public key published as a JWKS.
	keyfunc := gatewayKeyfunc(t, publicJWKS(t, authtest.KeyID, env.PublicKey))
	if tok, err := gatewayParser(now).Parse(access, keyfunc); err != nil || !tok.Valid {
		t.Fatalf("gateway-style verification failed: %v", err)
	}
	if err := gatewayLiveness(t, env, access, now); err != nil {
		t.Errorf("session of the token is not live by the gateway's rule: %v", err)
	}
}

// gatewayLiveness applies the gateway's liveness rule (contracts/redis.md)
// to the session of access at now: the key exists, status is active,
// user_id equals sub and expires_at is in the future.
func gatewayLiveness(t *testing.T, env *authtest.Env, access string, now time.Time) error {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(access, claims); err != nil {
		t.Fatalf("parse token: %v", err)
	}
	sid, _ := claims["sid"].(string)
	sub, _ := claims["sub"].(string)
	key := authtest.Prefix + "session:" + sid
	if !env.Redis.Exists(key) {
		return fmt.Errorf("%s does not exist", key)
	}
	if got := env.Redis.HGet(key, "status"); got != "active" {
		return fmt.Errorf("status is %q", got)
	}
	if got := env.Redis.HGet(key, "user_id"); got != sub {
		return fmt.Errorf("user_id %q is not the token's sub %q", got, sub)
	}
	if exp, err := strconv.ParseInt(env.Redis.HGet(key, "expires_at"), 10, 64); err != nil || exp <= now.Unix() {
		return fmt.Errorf("expires_at %q is not in the future of %d", env.Redis.HGet(key, "expires_at"), now.Unix())
	}
	return nil
}

func TestGatewayCompatibilityAccessToken(t *testing.T) {
	t.Parallel()
	env, now := fixedClockEnv(t)
	id, code := startLogin(t, env, "alice@example.com")
	res := confirm(t, env, id, code)
	wantAccessToken(t, env, res, now)

	access := res.Tokens.AccessToken
	parser := gatewayParser(now)
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
		if _, err := late.Parse(access, gatewayKeyfunc(t, publicJWKS(t, authtest.KeyID, env.PublicKey))); err == nil {
			t.Error("token still valid after exp + leeway")
		}
	})
}

func TestGatewayCompatibilityRefreshedAccessToken(t *testing.T) {
	t.Parallel()
	env, clk := clockEnv(t, authtest.Options{})
	first := login(t, env, "alice@example.com")
	clk.advance(env.Options.AccessTokenTTL)

	second := refresh(t, env, first.Tokens.RefreshToken)
	wantAccessToken(t, env, second, clk.Now())
	third := refresh(t, env, second.Tokens.RefreshToken)
	wantAccessToken(t, env, third, clk.Now())
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
	if got := sessionRecord(env, key); !maps.Equal(got, want) {
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
	if err := gatewayLiveness(t, env, res.Tokens.AccessToken, now); err != nil {
		t.Errorf("session is not live by the gateway's rule: %v", err)
	}

	// A refresh leaves the public record exactly as it was.
	refresh(t, env, res.Tokens.RefreshToken)
	if got := sessionRecord(env, key); !maps.Equal(got, want) {
		t.Errorf("session record after a refresh = %v, want exactly %v", got, want)
	}

	t.Run("expires with its key", func(t *testing.T) {
		env.Redis.FastForward(env.Options.SessionTTL)
		if env.Redis.Exists(key) {
			t.Error("session key outlives expires_at")
		}
	})
}

// sessionRecord returns every field of the session hash at key.
func sessionRecord(env *authtest.Env, key string) map[string]string {
	fields, _ := env.Redis.HKeys(key)
	got := make(map[string]string, len(fields))
	for _, f := range fields {
		got[f] = env.Redis.HGet(key, f)
	}
	return got
}

// TestGatewayCompatibilityRevocationSignal pins the public revocation
// signal: whatever revokes a session, its key is gone (so the gateway's
// liveness rule fails at once) and exactly one JSON message of the
// contracted shape goes out on {p}session-events.
func TestGatewayCompatibilityRevocationSignal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		revoke func(*testing.T, *authtest.Env, auth.Grant) error
		reason string
	}{
		{"logout", func(t *testing.T, env *authtest.Env, g auth.Grant) error {
			return env.Service.RevokeSession(context.Background(), g.Session.UserID, g.Session.ID)
		}, "logout"},
		{"revoke all", func(t *testing.T, env *authtest.Env, g auth.Grant) error {
			_, err := env.Service.RevokeAllSessions(context.Background(), g.Session.UserID)
			return err
		}, "revoke_all"},
		{"replay", func(t *testing.T, env *authtest.Env, g auth.Grant) error {
			// Once the successor is used, the old token is a replay.
			refresh(t, env, refresh(t, env, g.Tokens.RefreshToken).Tokens.RefreshToken)
			_, err := env.Service.RefreshSession(context.Background(), g.Tokens.RefreshToken, "")
			return ignore(err, apierror.InvalidRefreshToken)
		}, "replay"},
		{"user disabled", func(t *testing.T, env *authtest.Env, g auth.Grant) error {
			env.Users.Put(auth.User{ID: g.Session.UserID, Email: g.Session.Email, Status: auth.UserDisabled})
			_, err := env.Service.RefreshSession(context.Background(), g.Tokens.RefreshToken, "")
			return ignore(err, apierror.UserDisabled)
		}, "user_disabled"},
		{"user gone", func(t *testing.T, env *authtest.Env, g auth.Grant) error {
			env.Users.Remove(g.Session.Email)
			_, err := env.Service.RefreshSession(context.Background(), g.Tokens.RefreshToken, "")
			return ignore(err, apierror.InvalidRefreshToken)
		}, "revoked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, now := fixedClockEnv(t)
			if got, want := env.Store.EventsChannel(), authtest.Prefix+"session-events"; got != want {
				t.Fatalf("revocation channel = %q, want %q", got, want)
			}
			g := login(t, env, "alice@example.com")
			events := env.SubscribeEvents(t)

			if err := tc.revoke(t, env, g); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if err := gatewayLiveness(t, env, g.Tokens.AccessToken, now); err == nil {
				t.Error("the session is still live by the gateway's rule after its revocation")
			}
			wantRevocation(t, events.Next(t), g.Session, auth.RevocationReason(tc.reason))
			events.None(t, 50*time.Millisecond)
		})
	}
}

// ignore returns nil for an error carrying code, and any other err as is.
func ignore(err error, code apierror.Code) error {
	if apierror.Is(err, code) {
		return nil
	}
	return err
}
