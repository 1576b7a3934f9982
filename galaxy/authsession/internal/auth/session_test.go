package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/apierror"
)

// wantRevocation fails unless payload is exactly the revocation signal of
// session sess for reason.
func wantRevocation(t *testing.T, payload string, sess auth.Session, reason auth.RevocationReason) {
	t.Helper()
	var got map[string]string
	if err := json.Unmarshal([]byte(payload), &got); err != nil {
		t.Fatalf("revocation signal %s is not a JSON object of strings: %v", payload, err)
	}
	want := map[string]string{
		"type":       "session.revoked",
		"session_id": sess.ID,
		"user_id":    sess.UserID,
		"reason":     string(reason),
	}
	if !maps.Equal(got, want) {
		t.Errorf("revocation signal = %v, want exactly %v", got, want)
	}
}

// wantRevoked fails unless every key of session sess is gone.
func wantRevoked(t *testing.T, env *authtest.Env, sess auth.Session) {
	t.Helper()
	for _, key := range []string{env.Store.SessionKey(sess.ID), env.Store.SessionRefreshKey(sess.ID)} {
		if env.Redis.Exists(key) {
			t.Errorf("%s survives the revocation", key)
		}
	}
	if ok, _ := env.Redis.SIsMember(env.Store.UserSessionsKey(sess.UserID), sess.ID); ok {
		t.Errorf("session %s is still in its user's set", sess.ID)
	}
}

func TestRefreshSessionRotates(t *testing.T) {
	t.Parallel()
	env, clk := clockEnv(t, authtest.Options{})
	first := login(t, env, "alice@example.com")
	sess := first.Session
	sessionBefore := redisDump(t, env)[env.Store.SessionKey(sess.ID)]
	clk.advance(time.Hour)

	second := refresh(t, env, first.Tokens.RefreshToken)

	if second.Session != sess {
		t.Errorf("refreshed session = %+v, want the same %+v", second.Session, sess)
	}
	tok := second.Tokens
	if raw, err := base64.RawURLEncoding.DecodeString(tok.RefreshToken); err != nil || len(raw) != 32 {
		t.Errorf("new refresh token %q: want 32 bytes of base64url without padding", tok.RefreshToken)
	}
	if tok.RefreshToken == first.Tokens.RefreshToken || tok.AccessToken == first.Tokens.AccessToken {
		t.Error("refresh handed out an old token")
	}
	if !tok.RefreshTokenExpiresAt.Equal(sess.ExpiresAt) {
		t.Errorf("new refresh token expires %v, want the session's %v (refresh never extends it)", tok.RefreshTokenExpiresAt, sess.ExpiresAt)
	}
	if want := clk.Now().Add(env.Options.AccessTokenTTL); !tok.AccessTokenExpiresAt.Equal(want) {
		t.Errorf("new access token expires %v, want %v", tok.AccessTokenExpiresAt, want)
	}

	left := env.Options.SessionTTL - time.Hour
	oldKey := env.Store.RefreshKey(auth.HashRefreshToken(first.Tokens.RefreshToken))
	newHash := auth.HashRefreshToken(tok.RefreshToken)
	newKey := env.Store.RefreshKey(newHash)
	usedAt := strconv.FormatInt(clk.Now().UnixMilli(), 10)
	checks := []struct{ key, want string }{
		{oldKey, "used:" + sess.ID + ":" + usedAt + ":" + newHash},
		{newKey, sess.ID},
		{env.Store.SessionRefreshKey(sess.ID), newHash},
	}
	for _, c := range checks {
		if got, err := env.Redis.Get(c.key); err != nil || got != c.want {
			t.Errorf("GET %s = %q, %v; want %q", c.key, got, err, c.want)
		}
		if got := env.Redis.TTL(c.key); got != left {
			t.Errorf("TTL %s = %v, want %v (the session's remaining lifetime)", c.key, got, left)
		}
	}
	if got := redisDump(t, env)[env.Store.SessionKey(sess.ID)]; !slices.Equal(got, sessionBefore) {
		t.Errorf("session record changed by refresh: %v, was %v", got, sessionBefore)
	}

	// The new token works; the old one does not (its successor was used:
	// it is a replay now).
	third := refresh(t, env, tok.RefreshToken)
	if third.Tokens.RefreshToken == tok.RefreshToken {
		t.Error("the second refresh returned the same refresh token")
	}
	_, err := env.Service.RefreshSession(context.Background(), first.Tokens.RefreshToken, "")
	wantCode(t, err, apierror.InvalidRefreshToken)
}

func TestRefreshSessionReplayRevokesTheSession(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts authtest.Options
		// before the replay, given the first and the second pair; it
		// returns the session's current refresh token.
		before func(*testing.T, *authtest.Env, *clock, auth.Grant, auth.Grant) string
	}{
		{"the successor was used", authtest.Options{}, func(t *testing.T, env *authtest.Env, _ *clock, _, second auth.Grant) string {
			return refresh(t, env, second.Tokens.RefreshToken).Tokens.RefreshToken
		}},
		{"the grace window has ended", authtest.Options{RetryGrace: 10 * time.Second}, func(_ *testing.T, _ *authtest.Env, clk *clock, _, second auth.Grant) string {
			clk.advance(10 * time.Second)
			return second.Tokens.RefreshToken
		}},
		{"strict: no grace window", authtest.Options{NoRetries: true}, func(_ *testing.T, _ *authtest.Env, _ *clock, _, second auth.Grant) string {
			return second.Tokens.RefreshToken
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, clk := clockEnv(t, tc.opts)
			first := login(t, env, "alice@example.com")
			second := refresh(t, env, first.Tokens.RefreshToken)
			current := tc.before(t, env, clk, first, second)
			events := env.SubscribeEvents(t)

			_, err := env.Service.RefreshSession(context.Background(), first.Tokens.RefreshToken, "")
			wantCode(t, err, apierror.InvalidRefreshToken)
			wantRevocation(t, events.Next(t), first.Session, auth.ReasonReplay)
			wantRevoked(t, env, first.Session)
			if env.Redis.Exists(env.Store.RefreshKey(auth.HashRefreshToken(current))) {
				t.Error("the current refresh token survives the replay")
			}

			// Every token of the session is dead now, and nothing is revoked twice.
			for name, token := range map[string]string{"replayed": first.Tokens.RefreshToken, "second": second.Tokens.RefreshToken, "current": current} {
				_, err := env.Service.RefreshSession(context.Background(), token, "")
				if !apierror.Is(err, apierror.InvalidRefreshToken) {
					t.Errorf("refresh with the %s token: %v, want INVALID_REFRESH_TOKEN", name, err)
				}
			}
			events.None(t, 100*time.Millisecond)
		})
	}
}

func TestRefreshSessionRejectsBadTokens(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	cases := []struct {
		name, token, clientID string
		want                  apierror.Code
	}{
		{"empty", "", "", apierror.InvalidArgument},
		{"long client id", base64.RawURLEncoding.EncodeToString(make([]byte, 32)), strings.Repeat("x", 257), apierror.InvalidArgument},
		{"malformed", "not-a-token", "", apierror.InvalidRefreshToken},
		{"too short", base64.RawURLEncoding.EncodeToString(make([]byte, 16)), "", apierror.InvalidRefreshToken},
		{"unknown", base64.RawURLEncoding.EncodeToString(make([]byte, 32)), "", apierror.InvalidRefreshToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := env.Service.RefreshSession(context.Background(), tc.token, tc.clientID)
			wantCode(t, err, tc.want)
		})
	}
}

func TestRefreshSessionAbsoluteLifetime(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		advance func(*authtest.Env, *clock)
		want    apierror.Code // "" for success
	}{
		{"just before the end", func(_ *authtest.Env, c *clock) { c.advance(720*time.Hour - 2*time.Second) }, ""},
		{"redis expired the session", func(env *authtest.Env, _ *clock) { env.Redis.FastForward(720 * time.Hour) }, apierror.InvalidRefreshToken},
		{"past expires_at by the service clock", func(_ *authtest.Env, c *clock) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.now = c.now.Add(720 * time.Hour) // Redis lags behind
		}, apierror.InvalidRefreshToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, clk := clockEnv(t, authtest.Options{SessionTTL: 720 * time.Hour})
			first := login(t, env, "alice@example.com")
			tc.advance(env, clk)
			res, err := env.Service.RefreshSession(context.Background(), first.Tokens.RefreshToken, "")
			if tc.want != "" {
				wantCode(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatalf("RefreshSession: %v", err)
			}
			if !res.Tokens.RefreshTokenExpiresAt.Equal(first.Session.ExpiresAt) {
				t.Errorf("refresh token expires %v, want the session's %v", res.Tokens.RefreshTokenExpiresAt, first.Session.ExpiresAt)
			}
			key := env.Store.RefreshKey(auth.HashRefreshToken(res.Tokens.RefreshToken))
			if got := env.Redis.TTL(key); got != 2*time.Second {
				t.Errorf("new refresh key TTL = %v, want 2s (what is left of the session)", got)
			}
		})
	}
}

func TestRefreshSessionChecksTheUser(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(*authtest.Users)
		want   apierror.Code
		reason auth.RevocationReason
	}{
		{"disabled", func(u *authtest.Users) {
			u.Put(auth.User{ID: "user-1", Email: "alice@example.com", Status: auth.UserDisabled})
		}, apierror.UserDisabled, auth.ReasonUserDisabled},
		{"gone", func(u *authtest.Users) { u.Remove("alice@example.com") }, apierror.InvalidRefreshToken, auth.ReasonRevoked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := authtest.New(t, authtest.Options{})
			first := login(t, env, "alice@example.com")
			events := env.SubscribeEvents(t)
			tc.change(env.Users)

			_, err := env.Service.RefreshSession(context.Background(), first.Tokens.RefreshToken, "")
			wantCode(t, err, tc.want)
			wantRevocation(t, events.Next(t), first.Session, tc.reason)
			wantRevoked(t, env, first.Session)
		})
	}
}

// A disabled owner's session that another call ends while this one asks the
// user service about the owner: of the calls that cross, only the one whose
// revocation ended the session answers USER_DISABLED; this one is answered
// as a call made after that end (tokens.md: a revoked session's refresh
// token is INVALID_REFRESH_TOKEN; a used challenge is CHALLENGE_NOT_FOUND).
func TestACallThatFindsTheSessionEndedWhileItAskedAboutTheOwnerAnswersAsAfterTheEnd(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		call func(env *authtest.Env, first auth.Grant, code, challenge string) error
		want apierror.Code
	}{
		{"refresh", func(env *authtest.Env, first auth.Grant, _, _ string) error {
			_, err := env.Service.RefreshSession(context.Background(), first.Tokens.RefreshToken, "")
			return err
		}, apierror.InvalidRefreshToken},
		{"confirm retried", func(env *authtest.Env, _ auth.Grant, code, challenge string) error {
			_, err := env.Service.ConfirmEmailLogin(context.Background(), challenge, code, "")
			return err
		}, apierror.ChallengeNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := authtest.New(t, authtest.Options{})
			challenge, code := startLogin(t, env, "alice@example.com")
			first := confirm(t, env, challenge, code)
			env.Users.Put(auth.User{ID: first.Session.UserID, Email: "alice@example.com", Status: auth.UserDisabled})
			env.Users.BeforeAnswer(func(auth.User) { // another call ends the session meanwhile
				if err := env.Store.RevokeSession(context.Background(), first.Session.ID, "", auth.ReasonLogout); err != nil {
					t.Errorf("RevokeSession: %v", err)
				}
			})

			wantCode(t, tc.call(env, first, code, challenge), tc.want)
			wantRevoked(t, env, first.Session)
		})
	}
}

func TestRefreshSessionUserFailureChangesNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
	}{
		{"server error", http.StatusInternalServerError, `{"error": "boom"}`},
		{"not JSON", http.StatusOK, `<html>oops</html>`},
		{"another user", http.StatusOK, `{"id": "user-2", "email": "bob@example.com", "status": "active"}`},
		{"unknown status", http.StatusOK, `{"id": "user-1", "email": "alice@example.com", "status": "pending"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := authtest.New(t, authtest.Options{})
			first := login(t, env, "alice@example.com")
			before := redisDump(t, env)
			events := env.SubscribeEvents(t)
			env.Users.Answer(tc.status, tc.body)

			_, err := env.Service.RefreshSession(context.Background(), first.Tokens.RefreshToken, "")
			wantDependency(t, err, "user")
			if after := redisDump(t, env); !maps.EqualFunc(after, before, slices.Equal) {
				t.Errorf("redis changed by a failed refresh:\n%v\nwas\n%v", after, before)
			}
			events.None(t, 50*time.Millisecond)

			env.Users.Answer(0, "")
			refresh(t, env, first.Tokens.RefreshToken) // the token still works
		})
	}
}

// TestRefreshSessionConcurrentRefreshesGetOnePair pins the documented
// outcome (contracts/tokens.md, "Retries") of concurrent refreshes with one
// token: one rotation wins; every other one finds the token used within the
// grace window, its successor unused, so it is a retry and gets the same
// pair; nothing is revoked.
func TestRefreshSessionConcurrentRefreshesGetOnePair(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	first := login(t, env, "alice@example.com")
	events := env.SubscribeEvents(t)

	const n = 8
	results := make([]auth.Grant, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = env.Service.RefreshSession(context.Background(), first.Tokens.RefreshToken, "")
		})
	}
	wg.Wait()

	want := results[0].Tokens.RefreshToken
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent refresh #%d: %v, want success", i, err)
		}
		if got := results[i].Tokens.RefreshToken; got != want {
			t.Errorf("concurrent refresh #%d got refresh token %q, want the same %q as the others", i, got, want)
		}
		if results[i].Session != first.Session {
			t.Errorf("concurrent refresh #%d session = %+v, want %+v", i, results[i].Session, first.Session)
		}
	}
	events.None(t, 100*time.Millisecond)
	if got, err := env.Redis.Get(env.Store.SessionRefreshKey(first.Session.ID)); err != nil || got != auth.HashRefreshToken(want) {
		t.Errorf("the session's refresh token = %q, %v; want the one handed out", got, err)
	}
	next := refresh(t, env, want) // the pair works
	if next.Session.ID != first.Session.ID {
		t.Errorf("refresh with the shared token gave session %q, want %q", next.Session.ID, first.Session.ID)
	}
}

// TestRefreshSessionConcurrentRefreshesRevokeWhenStrict pins the outcome of
// concurrent refreshes with one token without a grace window: exactly one
// gets a new pair; every other one finds the token used, which is a replay,
// so the session is revoked and the winner's new pair dies with it.
func TestRefreshSessionConcurrentRefreshesRevokeWhenStrict(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{NoRetries: true})
	first := login(t, env, "alice@example.com")
	events := env.SubscribeEvents(t)

	const n = 16
	results := make([]auth.Grant, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = env.Service.RefreshSession(context.Background(), first.Tokens.RefreshToken, "")
		})
	}
	wg.Wait()

	var winner *auth.Grant
	for i, err := range errs {
		switch {
		case err == nil && winner == nil:
			winner = &results[i]
		case err == nil:
			t.Errorf("a second concurrent refresh succeeded")
		case !apierror.Is(err, apierror.InvalidRefreshToken):
			t.Errorf("concurrent refresh: %v, want success or INVALID_REFRESH_TOKEN", err)
		}
	}
	if winner == nil {
		t.Fatal("no concurrent refresh succeeded, want exactly one")
	}
	wantRevocation(t, events.Next(t), first.Session, auth.ReasonReplay)
	events.None(t, 100*time.Millisecond)
	wantRevoked(t, env, first.Session)
	_, err := env.Service.RefreshSession(context.Background(), winner.Tokens.RefreshToken, "")
	wantCode(t, err, apierror.InvalidRefreshToken)
}
