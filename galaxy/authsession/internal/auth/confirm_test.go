package auth_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/apierror"
)

func TestConfirmEmailLogin(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	id, code := startLogin(t, env, "Alice@Example.com")
	before := time.Now().Truncate(time.Second)

	res := confirm(t, env, id, code)

	s := res.Session
	if s.UserID != "user-1" || s.Email != "alice@example.com" {
		t.Errorf("session user, email = %q, %q; want %q, %q", s.UserID, s.Email, "user-1", "alice@example.com")
	}
	if raw, err := base64.RawURLEncoding.DecodeString(s.ID); err != nil || len(raw) != 16 {
		t.Errorf("session id %q: want 16 bytes of base64url without padding", s.ID)
	}
	if s.CreatedAt.Before(before) || s.ExpiresAt.Sub(s.CreatedAt) != env.Options.SessionTTL {
		t.Errorf("session created %v expires %v, want now and now+%v", s.CreatedAt, s.ExpiresAt, env.Options.SessionTTL)
	}
	tok := res.Tokens
	if tok.AccessToken == "" || strings.Count(tok.AccessToken, ".") != 2 {
		t.Errorf("access token %q, want a compact JWS", tok.AccessToken)
	}
	if got := tok.AccessTokenExpiresAt.Sub(s.CreatedAt); got != env.Options.AccessTokenTTL {
		t.Errorf("access token lives %v, want %v", got, env.Options.AccessTokenTTL)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(tok.RefreshToken); err != nil || len(raw) != 32 {
		t.Errorf("refresh token %q: want 32 bytes of base64url without padding", tok.RefreshToken)
	}
	if !tok.RefreshTokenExpiresAt.Equal(s.ExpiresAt) {
		t.Errorf("refresh token expires %v, want the session's %v", tok.RefreshTokenExpiresAt, s.ExpiresAt)
	}

	// The consumed challenge stays for the retry window as a tombstone
	// naming the session, without the client id.
	challengeKey := env.Store.ChallengeKey(id)
	if got := env.Redis.HGet(challengeKey, "session_id"); got != s.ID {
		t.Errorf("tombstone session_id = %q, want %q", got, s.ID)
	}
	if got := env.Redis.HGet(challengeKey, "client_id"); got != "" {
		t.Errorf("tombstone client_id = %q, want none", got)
	}
	if got := env.Redis.TTL(challengeKey); got <= 0 || got > env.Options.RetryGrace {
		t.Errorf("tombstone TTL = %v, want up to the retry window %v", got, env.Options.RetryGrace)
	}
	refreshKey := env.Store.RefreshKey(auth.HashRefreshToken(tok.RefreshToken))
	if got, err := env.Redis.Get(refreshKey); err != nil || got != s.ID {
		t.Errorf("GET %s = %q, %v; want %q", refreshKey, got, err, s.ID)
	}
	if got := env.Redis.TTL(refreshKey); got <= 0 || got > env.Options.SessionTTL {
		t.Errorf("refresh key TTL = %v, want up to %v", got, env.Options.SessionTTL)
	}
	userKey := env.Store.UserSessionsKey(s.UserID)
	if ok, err := env.Redis.SIsMember(userKey, s.ID); err != nil || !ok {
		t.Errorf("SISMEMBER %s %s = %v, %v; want true", userKey, s.ID, ok, err)
	}
	for key, values := range redisDump(t, env) {
		for _, v := range append(values, key) {
			if strings.Contains(v, tok.RefreshToken) || strings.Contains(v, tok.AccessToken) {
				t.Errorf("%s holds a token in %q", key, v)
			}
		}
	}

	// A second login of the same user, after the resend cooldown, opens a
	// second session.
	env.Redis.FastForward(env.Options.Limits.ResendCooldown)
	id2, code2 := startLogin(t, env, "alice@example.com")
	res2 := confirm(t, env, id2, code2)
	if res2.Session.UserID != s.UserID || res2.Session.ID == s.ID {
		t.Errorf("second session %+v, want a new session of %q", res2.Session, s.UserID)
	}
	if got, _ := env.Redis.Members(userKey); len(got) != 2 {
		t.Errorf("user sessions = %v, want 2", got)
	}
}

func TestConfirmEmailLoginRejectsMalformedInput(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeMaxAttempts: 1})
	id, code := startLogin(t, env, "alice@example.com")

	cases := []struct {
		name, challengeID, code, clientID string
	}{
		{"empty challenge id", "", code, ""},
		{"empty code", id, "", ""},
		{"short code", id, code[:5], ""},
		{"long code", id, code + "0", ""},
		{"letters", id, "12a456", ""},
		{"padded code", id, " " + code[:5], ""},
		{"non-ASCII digits", id, "１２３４５６", ""},
		{"long client id", id, code, strings.Repeat("x", 257)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Service.ConfirmEmailLogin(context.Background(), tc.challengeID, tc.code, tc.clientID)
			wantCode(t, err, apierror.InvalidArgument)
		})
	}
	// None of that counted as an attempt, although only one is allowed.
	if got := env.Redis.HGet(env.Store.ChallengeKey(id), "attempts"); got != "0" {
		t.Errorf("attempts = %q, want 0", got)
	}
	confirm(t, env, id, code)
}

func TestConfirmEmailLoginUnknownChallenge(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	cases := []struct{ name, id string }{
		{"never issued", "AAAAAAAAAAAAAAAAAAAAAA"},
		{"malformed", "no-such-challenge"},
		{"too long", strings.Repeat("A", 1000)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := env.Service.ConfirmEmailLogin(context.Background(), tc.id, "123456", "")
			wantCode(t, err, apierror.ChallengeNotFound)
		})
	}
}

func TestConfirmEmailLoginWrongCodes(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeMaxAttempts: 3})
	id, code := startLogin(t, env, "alice@example.com")
	key := env.Store.ChallengeKey(id)
	bad := wrongCode(t, code)

	steps := []struct {
		want         apierror.Code
		wantAttempts string
	}{
		{apierror.InvalidCode, "1"},
		{apierror.InvalidCode, "2"},
		{apierror.TooManyAttempts, ""},
		{apierror.ChallengeNotFound, ""},
	}
	for i, step := range steps {
		_, err := env.Service.ConfirmEmailLogin(context.Background(), id, bad, "")
		if !apierror.Is(err, step.want) {
			t.Fatalf("wrong code #%d: error = %v, want %s", i+1, err, step.want)
		}
		if got := env.Redis.HGet(key, "attempts"); got != step.wantAttempts {
			t.Errorf("after wrong code #%d: attempts = %q, want %q", i+1, got, step.wantAttempts)
		}
	}
	if env.Redis.Exists(key) {
		t.Error("challenge survives its last attempt")
	}
	_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
	wantCode(t, err, apierror.ChallengeNotFound)
	if got := env.Users.Calls(); got != 0 {
		t.Errorf("user service calls = %d, want 0", got)
	}
}

func TestConfirmEmailLoginRightCodeAfterWrongOnes(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeMaxAttempts: 3})
	id, code := startLogin(t, env, "alice@example.com")
	for range 2 {
		_, err := env.Service.ConfirmEmailLogin(context.Background(), id, wrongCode(t, code), "")
		wantCode(t, err, apierror.InvalidCode)
	}
	confirm(t, env, id, code)
}

func TestConfirmEmailLoginIsSingleUseWhenStrict(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{NoRetries: true})
	id, code := startLogin(t, env, "alice@example.com")
	confirm(t, env, id, code)
	if env.Redis.Exists(env.Store.ChallengeKey(id)) {
		t.Error("challenge still exists after a successful confirm without a retry window")
	}
	_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
	wantCode(t, err, apierror.ChallengeNotFound)
	if got := len(sessionKeys(env)); got != 1 {
		t.Errorf("sessions = %d, want 1", got)
	}
}

func TestConfirmEmailLoginExpiry(t *testing.T) {
	t.Parallel()
	t.Run("redis expires the challenge", func(t *testing.T) {
		t.Parallel()
		env := authtest.New(t, authtest.Options{})
		id, code := startLogin(t, env, "alice@example.com")
		env.Redis.FastForward(env.Options.CodeTTL)
		_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
		wantCode(t, err, apierror.ChallengeNotFound)
	})
	t.Run("just before expiry", func(t *testing.T) {
		t.Parallel()
		env := authtest.New(t, authtest.Options{})
		id, code := startLogin(t, env, "alice@example.com")
		env.Redis.FastForward(env.Options.CodeTTL - 3*time.Second)
		confirm(t, env, id, code)
	})
}

func TestConfirmEmailLoginUserFailureKeepsTheChallenge(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
	}{
		{"server error", http.StatusInternalServerError, `{"error": "boom"}`},
		{"not found", http.StatusNotFound, ``},
		{"accepted is not an answer", http.StatusAccepted, `{"id": "u1", "email": "alice@example.com", "status": "active"}`},
		{"not JSON", http.StatusOK, `<html>oops</html>`},
		{"array", http.StatusOK, `[]`},
		{"missing id", http.StatusOK, `{"email": "alice@example.com", "status": "active"}`},
		{"empty id", http.StatusOK, `{"id": "", "email": "alice@example.com", "status": "active"}`},
		{"numeric id", http.StatusOK, `{"id": 7, "email": "alice@example.com", "status": "active"}`},
		{"missing status", http.StatusOK, `{"id": "u1", "email": "alice@example.com"}`},
		{"unknown status", http.StatusOK, `{"id": "u1", "email": "alice@example.com", "status": "pending"}`},
		{"trailing data", http.StatusOK, `{"id": "u1", "email": "alice@example.com", "status": "active"} {}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// One attempt only: the failed one is given back.
			env := authtest.New(t, authtest.Options{CodeMaxAttempts: 1})
			id, code := startLogin(t, env, "alice@example.com")
			env.Users.Answer(tc.status, tc.body)

			for range 2 {
				_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
				wantDependency(t, err, "user")
			}
			if !env.Redis.Exists(env.Store.ChallengeKey(id)) {
				t.Fatal("challenge was consumed by a failed user lookup")
			}
			if got := env.Redis.HGet(env.Store.ChallengeKey(id), "attempts"); got != "0" {
				t.Errorf("attempts = %q, want 0", got)
			}
			if got := sessionKeys(env); len(got) != 0 {
				t.Errorf("sessions = %v, want none", got)
			}

			env.Users.Answer(0, "")
			confirm(t, env, id, code) // the user may retry
		})
	}
}

func TestConfirmEmailLoginIgnoresUnknownUserFields(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	id, code := startLogin(t, env, "alice@example.com")
	env.Users.Answer(http.StatusOK, `{"id": "u1", "email": "alice@example.com", "status": "active", "plan": "pro"}`)

	got, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
	if err != nil {
		t.Fatalf("ConfirmEmailLogin() error = %v, want a session (unknown fields are allowed)", err)
	}
	if got.Session.UserID != "u1" {
		t.Errorf("session user = %q, want u1", got.Session.UserID)
	}
}

func TestConfirmEmailLoginDisabledUser(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	env.Users.Put(auth.User{ID: "u-off", Email: "off@example.com", Status: auth.UserDisabled})
	id, code := startLogin(t, env, "off@example.com")

	_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
	wantCode(t, err, apierror.UserDisabled)
	if env.Redis.Exists(env.Store.ChallengeKey(id)) {
		t.Error("challenge survives a disabled user")
	}
	if got := stateKeys(env); len(got) != 0 {
		t.Errorf("redis keys = %v, want only abuse counters", got)
	}
}

func TestConfirmEmailLoginRedisFailure(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	id, code := startLogin(t, env, "alice@example.com")
	env.Redis.Close()
	_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
	wantDependency(t, err, "redis")
}
