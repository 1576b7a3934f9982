package auth_test

import (
	"context"
	"encoding/base64"
	"maps"
	"slices"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/apierror"
)

func TestRefreshRetryWithinTheWindowGetsTheSamePair(t *testing.T) {
	t.Parallel()
	env, clk := clockEnv(t, authtest.Options{RetryGrace: 30 * time.Second})
	first := login(t, env, "alice@example.com")
	second := refresh(t, env, first.Tokens.RefreshToken) // its answer was lost
	events := env.SubscribeEvents(t)
	before := redisDump(t, env)
	clk.advance(29 * time.Second)

	retry := refresh(t, env, first.Tokens.RefreshToken)

	if got, want := retry.Tokens.RefreshToken, second.Tokens.RefreshToken; got != want {
		t.Errorf("retry refresh token = %q, want the same successor %q", got, want)
	}
	if retry.Session != first.Session {
		t.Errorf("retry session = %+v, want %+v", retry.Session, first.Session)
	}
	if retry.Tokens.AccessToken == second.Tokens.AccessToken {
		t.Error("retry handed out the old access token, want a freshly signed one")
	}
	if want := clk.Now().Add(env.Options.AccessTokenTTL); !retry.Tokens.AccessTokenExpiresAt.Equal(want) {
		t.Errorf("retry access token expires %v, want %v", retry.Tokens.AccessTokenExpiresAt, want)
	}
	if !retry.Tokens.RefreshTokenExpiresAt.Equal(first.Session.ExpiresAt) {
		t.Errorf("retry refresh token expires %v, want the session's %v", retry.Tokens.RefreshTokenExpiresAt, first.Session.ExpiresAt)
	}
	if after := redisDump(t, env); !maps.EqualFunc(after, before, slices.Equal) {
		t.Errorf("redis changed by a retry:\n%v\nwas\n%v", after, before)
	}
	events.None(t, 50*time.Millisecond)

	// The pair works: the successor rotates as usual, and from then on the
	// first token is a replay.
	third := refresh(t, env, retry.Tokens.RefreshToken)
	if third.Session.ID != first.Session.ID {
		t.Errorf("refresh with the retried token gave session %q, want %q", third.Session.ID, first.Session.ID)
	}
	replayEvents := env.SubscribeEvents(t) // a subscription that timed out is closed
	_, err := env.Service.RefreshSession(context.Background(), first.Tokens.RefreshToken, "")
	wantCode(t, err, apierror.InvalidRefreshToken)
	wantRevocation(t, replayEvents.Next(t), first.Session, auth.ReasonReplay)
}

func TestRefreshRetryStillChecksTheUser(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	first := login(t, env, "alice@example.com")
	refresh(t, env, first.Tokens.RefreshToken)
	env.Users.Put(auth.User{ID: first.Session.UserID, Email: first.Session.Email, Status: auth.UserDisabled})

	_, err := env.Service.RefreshSession(context.Background(), first.Tokens.RefreshToken, "")

	wantCode(t, err, apierror.UserDisabled)
	wantRevoked(t, env, first.Session)
}

func TestRefreshTokensAreDerivedButLookRandom(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	seen := map[string]bool{}
	for range 3 {
		g := login(t, env, "alice@example.com")
		env.Redis.FastForward(env.Options.Limits.ResendCooldown)
		tokens := []string{g.Tokens.RefreshToken, refresh(t, env, g.Tokens.RefreshToken).Tokens.RefreshToken}
		for _, tok := range tokens {
			if raw, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(raw) != 32 {
				t.Errorf("refresh token %q: want 32 bytes of base64url without padding", tok)
			}
			if seen[tok] {
				t.Errorf("refresh token %q handed out for two sessions or rotations", tok)
			}
			seen[tok] = true
		}
	}
}

func TestConfirmRetryWithinTheWindow(t *testing.T) {
	t.Parallel()
	env, clk := clockEnv(t, authtest.Options{RetryGrace: 30 * time.Second})
	id, code := startLogin(t, env, "alice@example.com")
	first := confirm(t, env, id, code) // its answer was lost
	clk.advance(29 * time.Second)

	retry := confirm(t, env, id, code)

	if retry.Session != first.Session {
		t.Errorf("retry session = %+v, want the same %+v", retry.Session, first.Session)
	}
	if got, want := retry.Tokens.RefreshToken, first.Tokens.RefreshToken; got != want {
		t.Errorf("retry refresh token = %q, want the same %q", got, want)
	}
	if want := clk.Now().Add(env.Options.AccessTokenTTL); !retry.Tokens.AccessTokenExpiresAt.Equal(want) {
		t.Errorf("retry access token expires %v, want a fresh one expiring %v", retry.Tokens.AccessTokenExpiresAt, want)
	}
	if got := sessionKeys(env); len(got) != 1 {
		t.Errorf("sessions = %v, want exactly 1", got)
	}
	if got, _ := env.Redis.Members(env.Store.UserSessionsKey(first.Session.UserID)); len(got) != 1 {
		t.Errorf("user sessions = %v, want exactly 1", got)
	}
	refresh(t, env, retry.Tokens.RefreshToken) // the pair works
}

func TestConfirmRetryIsRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// after runs after the first confirm (grant) and returns the code
		// to retry with.
		after func(*testing.T, *authtest.Env, *clock, auth.Grant, string) string
	}{
		{"wrong code", func(t *testing.T, _ *authtest.Env, _ *clock, _ auth.Grant, code string) string {
			return wrongCode(t, code)
		}},
		{"after the window", func(_ *testing.T, _ *authtest.Env, clk *clock, _ auth.Grant, code string) string {
			clk.advance(30 * time.Second)
			return code
		}},
		{"the refresh token was rotated", func(t *testing.T, env *authtest.Env, _ *clock, g auth.Grant, code string) string {
			refresh(t, env, g.Tokens.RefreshToken)
			return code
		}},
		{"the session was revoked", func(t *testing.T, env *authtest.Env, _ *clock, g auth.Grant, code string) string {
			if err := env.Service.RevokeSession(context.Background(), g.Session.UserID, g.Session.ID); err != nil {
				t.Fatalf("RevokeSession: %v", err)
			}
			return code
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, clk := clockEnv(t, authtest.Options{RetryGrace: 30 * time.Second})
			id, code := startLogin(t, env, "alice@example.com")
			first := confirm(t, env, id, code)
			retryCode := tc.after(t, env, clk, first, code)
			sessionsBefore := sessionKeys(env)
			failedBefore := failedAttempts(t, env)

			_, err := env.Service.ConfirmEmailLogin(context.Background(), id, retryCode, "")

			wantCode(t, err, apierror.ChallengeNotFound)
			if got := sessionKeys(env); !slices.Equal(got, sessionsBefore) {
				t.Errorf("sessions = %v, want unchanged %v", got, sessionsBefore)
			}
			if got := failedAttempts(t, env); got != failedBefore {
				t.Errorf("failed attempts = %d, want unchanged %d (a code on a consumed challenge counts nothing)", got, failedBefore)
			}
		})
	}
}

func TestConfirmRetryAfterAWrongCodeStillWorks(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	id, code := startLogin(t, env, "alice@example.com")
	first := confirm(t, env, id, code)

	_, err := env.Service.ConfirmEmailLogin(context.Background(), id, wrongCode(t, code), "")
	wantCode(t, err, apierror.ChallengeNotFound)

	if retry := confirm(t, env, id, code); retry.Session.ID != first.Session.ID {
		t.Errorf("retry session %q, want %q", retry.Session.ID, first.Session.ID)
	}
}

func TestConfirmTombstoneComparesNoMoreThanTheAttempts(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeMaxAttempts: 3})
	id, code := startLogin(t, env, "alice@example.com")
	confirm(t, env, id, code) // attempt 1
	for range 2 {             // attempts 2 and 3
		_, err := env.Service.ConfirmEmailLogin(context.Background(), id, wrongCode(t, code), "")
		wantCode(t, err, apierror.ChallengeNotFound)
	}
	// Every attempt is taken: even the right code is no longer compared.
	_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
	wantCode(t, err, apierror.ChallengeNotFound)
}
