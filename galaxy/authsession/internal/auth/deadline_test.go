package auth_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
)

// expired returns a context whose deadline has already passed.
func expired(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	t.Cleanup(cancel)
	return ctx
}

func TestExpiredDeadlineOnArrivalDoesNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		call func(context.Context, *authtest.Env, string, string, string) error
	}{
		{"start", func(ctx context.Context, env *authtest.Env, _, _, _ string) error {
			_, err := env.Service.StartEmailLogin(ctx, "bob@example.com", "203.0.113.7")
			return err
		}},
		{"confirm", func(ctx context.Context, env *authtest.Env, id, code, _ string) error {
			_, err := env.Service.ConfirmEmailLogin(ctx, id, code, "203.0.113.7")
			return err
		}},
		{"wrong code", func(ctx context.Context, env *authtest.Env, id, code, _ string) error {
			_, err := env.Service.ConfirmEmailLogin(ctx, id, wrongCode(t, code), "203.0.113.7")
			return err
		}},
		{"refresh", func(ctx context.Context, env *authtest.Env, _, _, token string) error {
			_, err := env.Service.RefreshSession(ctx, token, "")
			return err
		}},
		{"revoke", func(ctx context.Context, env *authtest.Env, _, _, _ string) error {
			return env.Service.RevokeSession(ctx, "user-1", firstSessionID(env))
		}},
		{"revoke all", func(ctx context.Context, env *authtest.Env, _, _, _ string) error {
			_, err := env.Service.RevokeAllSessions(ctx, "user-1")
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := authtest.New(t, authtest.Options{})
			// A live session and a pending challenge for the calls to act on.
			grant := login(t, env, "alice@example.com")
			env.Redis.FastForward(env.Options.Limits.ResendCooldown)
			id, code := startLogin(t, env, "alice@example.com")
			before := redisDump(t, env)
			mails, userCalls := len(env.Mail.Messages()), env.Users.Calls()

			err := tc.call(expired(t), env, id, code, grant.Tokens.RefreshToken)

			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error = %v, want context.DeadlineExceeded", err)
			}
			if after := redisDump(t, env); !maps.EqualFunc(after, before, slices.Equal) {
				t.Errorf("redis changed by a call past its deadline:\n%v\nwas\n%v", after, before)
			}
			if got := len(env.Mail.Messages()); got != mails {
				t.Errorf("mail messages = %d, want %d (none sent)", got, mails)
			}
			if got := env.Users.Calls(); got != userCalls {
				t.Errorf("user service calls = %d, want %d (none made)", got, userCalls)
			}
		})
	}
}

// firstSessionID returns the id of a session in env's Redis.
func firstSessionID(env *authtest.Env) string {
	keys := sessionKeys(env)
	if len(keys) == 0 {
		return ""
	}
	return keys[0][len(env.Store.SessionKey("")):]
}

// TestUpstreamTimeoutIsCappedByTheCallersDeadline: a mail or user service
// that hangs past the caller's deadline, with an upstream timeout longer
// than that deadline, is still named, before the caller's deadline ends.
func TestUpstreamTimeoutIsCappedByTheCallersDeadline(t *testing.T) {
	t.Parallel()
	const callerDeadline = 600 * time.Millisecond
	cases := []struct {
		name       string
		dependency string
		call       func(context.Context, *testing.T, *authtest.Env) error
	}{
		{"mail on start", "mail", func(ctx context.Context, _ *testing.T, env *authtest.Env) error {
			env.Mail.Delay(5 * time.Second)
			_, err := env.Service.StartEmailLogin(ctx, "alice@example.com", "")
			return err
		}},
		{"user on confirm", "user", func(ctx context.Context, t *testing.T, env *authtest.Env) error {
			id, code := startLogin(t, env, "alice@example.com")
			env.Users.Delay(5 * time.Second)
			_, err := env.Service.ConfirmEmailLogin(ctx, id, code, "")
			return err
		}},
		{"user on refresh", "user", func(ctx context.Context, t *testing.T, env *authtest.Env) error {
			grant := login(t, env, "alice@example.com")
			env.Users.Delay(5 * time.Second)
			_, err := env.Service.RefreshSession(ctx, grant.Tokens.RefreshToken, "")
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := authtest.New(t, authtest.Options{UpstreamTimeout: 10 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), callerDeadline)
			defer cancel()
			started := time.Now()

			err := tc.call(ctx, t, env)

			wantDependency(t, err, tc.dependency)
			if ctx.Err() != nil {
				t.Errorf("answered after the caller's deadline (%v), want before it", time.Since(started))
			}
		})
	}
}

// slowStore lets a caller's deadline pass during ReserveAttempt, which
// itself succeeds.
type slowStore struct{ auth.Store }

func (s slowStore) ReserveAttempt(ctx context.Context, id string, maxAttempts int) (auth.Challenge, error) {
	c, err := s.Store.ReserveAttempt(ctx, id, maxAttempts)
	if _, ok := ctx.Deadline(); ok {
		<-ctx.Done()
	}
	return c, err
}

func TestDeadlinePassingMidwayStopsBeforeTheNextWrite(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{WrapStore: func(s auth.Store) auth.Store { return slowStore{s} }})
	id, code := startLogin(t, env, "alice@example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()

	_, err := env.Service.ConfirmEmailLogin(ctx, id, code, "")

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}
	if got := env.Users.Calls(); got != 0 {
		t.Errorf("user service calls = %d, want 0 (none started past the deadline)", got)
	}
	if got := sessionKeys(env); len(got) != 0 {
		t.Errorf("sessions = %v, want none", got)
	}
	if got := env.Redis.HGet(env.Store.ChallengeKey(id), "attempts"); got != "0" {
		t.Errorf("attempts = %q, want 0 (the right code's attempt is given back)", got)
	}
	if got := failedAttempts(t, env); got != 0 {
		t.Errorf("failed attempts = %d, want 0 (a code never compared is not counted)", got)
	}
	confirm(t, env, id, code) // the code is still good
}
