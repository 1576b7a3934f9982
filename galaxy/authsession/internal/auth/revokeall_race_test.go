package auth_test

import (
	"context"
	"sync"
	"testing"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/apierror"
)

// revokeAllWhileResolving makes the fake user service, the first time it
// answers the user of email, first apply change to that user (as the user
// service would when an administrator acts) and call RevokeAllSessions for
// it, and only then send the answer it had decided on before: the
// revocation runs after the user service answered and before authsession
// writes the session of the login that asked.
func revokeAllWhileResolving(t *testing.T, env *authtest.Env, email string, change func(*auth.User)) {
	t.Helper()
	var once sync.Once
	env.Users.BeforeAnswer(func(u auth.User) {
		if u.Email != email {
			return
		}
		once.Do(func() {
			changed := u
			change(&changed)
			env.Users.Put(changed)
			if _, err := env.Service.RevokeAllSessions(context.Background(), u.ID); err != nil {
				t.Errorf("RevokeAllSessions(%s): %v", u.ID, err)
			}
		})
	})
}

// TestDisableDuringConfirmLeavesNoSession: the user service answers a
// confirm's resolve with "active", then the user is disabled and every
// session of the user revoked, then the confirm writes its session. That
// session would outlive the revocation, a live session of a disabled user;
// the confirm must instead find out and answer USER_DISABLED.
func TestDisableDuringConfirmLeavesNoSession(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	const email = "mallory@example.com"
	existing := login(t, env, email)
	env.Redis.FastForward(env.Options.Limits.ResendCooldown)
	id, code := startLogin(t, env, email)

	revokeAllWhileResolving(t, env, email, func(u *auth.User) { u.Status = auth.UserDisabled })
	_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "203.0.113.7")
	wantCode(t, err, apierror.UserDisabled)

	sessions, err := env.Store.UserSessions(context.Background(), existing.Session.UserID)
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	if len(sessions) != 0 {
		t.Errorf("live sessions of the disabled user: %+v, want none", sessions)
	}
	if keys := sessionKeys(env); len(keys) != 0 {
		t.Errorf("session records left: %v, want none", keys)
	}
	if _, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "203.0.113.7"); !apierror.Is(err, apierror.ChallengeNotFound) {
		t.Errorf("the challenge answered a second confirm with %v; want it consumed (CHALLENGE_NOT_FOUND)", err)
	}
}

// TestRevokeAllDuringConfirmOfAnActiveUser: a RevokeAllSessions of a user
// who stays active (say, "log out everywhere") that runs between the
// resolve and the session's write does not fail the login: the confirm
// resolves the user again and opens its session, which is live.
func TestRevokeAllDuringConfirmOfAnActiveUser(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	const email = "alice@example.com"
	id, code := startLogin(t, env, email)
	revokeAllWhileResolving(t, env, email, func(*auth.User) {})

	before := env.Users.Calls()
	g := confirm(t, env, id, code)
	if calls := env.Users.Calls() - before; calls != 2 {
		t.Errorf("user service calls = %d, want 2 (the user resolved again after the revoke-all)", calls)
	}
	if _, err := env.Store.Session(context.Background(), g.Session.ID); err != nil {
		t.Errorf("the login's session is not live: %v", err)
	}
}

// TestRevokeAllMarksAreKeptPerUser: the mark of one user's revoke-all does
// not refuse the login of another user in flight at the same time.
func TestRevokeAllMarksAreKeptPerUser(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	bob := login(t, env, "bob@example.com")
	id, code := startLogin(t, env, "alice@example.com")
	var once sync.Once
	env.Users.BeforeAnswer(func(auth.User) {
		once.Do(func() {
			if _, err := env.Service.RevokeAllSessions(context.Background(), bob.Session.UserID); err != nil {
				t.Errorf("RevokeAllSessions(bob): %v", err)
			}
		})
	})
	before := env.Users.Calls()
	confirm(t, env, id, code)
	if calls := env.Users.Calls() - before; calls != 1 {
		t.Errorf("user service calls = %d, want 1: bob's revoke-all is no reason to resolve alice again", calls)
	}
}
