package auth_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/apierror"
)

func TestRevokeSession(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	alice := login(t, env, "alice@example.com")
	bob := login(t, env, "bob@example.com")
	ctx := context.Background()

	other := env.Service.RevokeSession(ctx, bob.Session.UserID, alice.Session.ID)
	unknown := env.Service.RevokeSession(ctx, alice.Session.UserID, "AAAAAAAAAAAAAAAAAAAAAA")
	for name, err := range map[string]error{"another user's session": other, "unknown session": unknown} {
		if !apierror.Is(err, apierror.SessionNotFound) {
			t.Errorf("revoke %s: %v, want SESSION_NOT_FOUND", name, err)
		}
	}
	if other != nil && unknown != nil && apierror.As(other).Message != apierror.As(unknown).Message {
		t.Errorf("another user's session answers %q, an unknown one %q; want the same", apierror.As(other).Message, apierror.As(unknown).Message)
	}
	if !env.Redis.Exists(env.Store.SessionKey(alice.Session.ID)) {
		t.Fatal("bob revoked alice's session")
	}

	events := env.SubscribeEvents(t)
	if err := env.Service.RevokeSession(ctx, alice.Session.UserID, alice.Session.ID); err != nil {
		t.Fatalf("RevokeSession(own): %v", err)
	}
	wantRevocation(t, events.Next(t), alice.Session, auth.ReasonLogout)
	wantRevoked(t, env, alice.Session)
	if env.Redis.Exists(env.Store.RefreshKey(auth.HashRefreshToken(alice.Tokens.RefreshToken))) {
		t.Error("the refresh token survives the revocation")
	}
	_, err := env.Service.RefreshSession(ctx, alice.Tokens.RefreshToken, "")
	wantCode(t, err, apierror.InvalidRefreshToken)
	if !env.Redis.Exists(env.Store.SessionKey(bob.Session.ID)) {
		t.Error("revoking alice's session ended bob's")
	}

	cases := []struct {
		name, userID, sessionID string
		want                    apierror.Code
	}{
		{"already revoked", alice.Session.UserID, alice.Session.ID, apierror.SessionNotFound},
		{"malformed id", alice.Session.UserID, "no-such-session", apierror.SessionNotFound},
		{"empty user id", "", bob.Session.ID, apierror.InvalidArgument},
		{"empty session id", bob.Session.UserID, "", apierror.InvalidArgument},
		{"long user id", strings.Repeat("u", 257), bob.Session.ID, apierror.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, env.Service.RevokeSession(ctx, tc.userID, tc.sessionID), tc.want)
		})
	}
	events.None(t, 50*time.Millisecond)
}

func TestRevokeAllSessions(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	var mine []auth.Session
	for range 3 {
		mine = append(mine, login(t, env, "alice@example.com").Session)
		env.Redis.FastForward(env.Options.Limits.ResendCooldown)
	}
	bob := login(t, env, "bob@example.com")
	userID := mine[0].UserID
	events := env.SubscribeEvents(t)

	n, err := env.Service.RevokeAllSessions(context.Background(), userID)
	if err != nil || n != 3 {
		t.Fatalf("RevokeAllSessions() = %d, %v; want 3", n, err)
	}
	got := map[string]bool{}
	for range 3 {
		var e map[string]string
		payload := events.Next(t)
		json.Unmarshal([]byte(payload), &e)
		got[e["session_id"]] = true
		if e["reason"] != string(auth.ReasonRevokeAll) || e["user_id"] != userID {
			t.Errorf("revocation signal %s, want reason revoke_all for %s", payload, userID)
		}
	}
	for _, s := range mine {
		wantRevoked(t, env, s)
		if !got[s.ID] {
			t.Errorf("no revocation signal for session %s", s.ID)
		}
	}
	if !env.Redis.Exists(env.Store.SessionKey(bob.Session.ID)) {
		t.Error("revoking alice's sessions ended bob's")
	}

	if n, err := env.Service.RevokeAllSessions(context.Background(), userID); err != nil || n != 0 {
		t.Errorf("second RevokeAllSessions() = %d, %v; want 0", n, err)
	}
	_, err = env.Service.RevokeAllSessions(context.Background(), "")
	wantCode(t, err, apierror.InvalidArgument)
}

func TestListSessions(t *testing.T) {
	t.Parallel()
	env, clk := clockEnv(t, authtest.Options{})
	var created []auth.Session
	for range 3 {
		created = append(created, login(t, env, "alice@example.com").Session)
		clk.advance(time.Minute)
	}
	login(t, env, "bob@example.com")
	userID := created[0].UserID
	ctx := context.Background()

	got, err := env.Service.ListSessions(ctx, userID)
	if err != nil {
		t.Fatalf("ListSessions: %v", err)
	}
	want := []auth.Session{created[2], created[1], created[0]}
	if !slices.EqualFunc(got, want, sameSession) {
		t.Errorf("ListSessions() = %+v, want newest first %+v", got, want)
	}

	// The oldest expires, one is revoked by hand (status), one stays.
	clk.advance(env.Options.SessionTTL - 3*time.Minute + 30*time.Second)
	env.Redis.HSet(env.Store.SessionKey(created[1].ID), "status", "revoked")
	got, err = env.Service.ListSessions(ctx, userID)
	if err != nil || !slices.EqualFunc(got, []auth.Session{created[2]}, sameSession) {
		t.Errorf("ListSessions() = %+v, %v; want only %+v", got, err, created[2])
	}
	if ok, _ := env.Redis.SIsMember(env.Store.UserSessionsKey(userID), created[0].ID); ok {
		t.Error("the expired session is still in the user's set")
	}

	cases := []struct {
		name, userID string
		want         int
		wantErr      apierror.Code
	}{
		{"unknown user", "user-404", 0, ""},
		{"empty user id", "", 0, apierror.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := env.Service.ListSessions(ctx, tc.userID)
			if tc.wantErr != "" {
				wantCode(t, err, tc.wantErr)
				return
			}
			if err != nil || len(got) != tc.want {
				t.Errorf("ListSessions() = %v, %v; want %d sessions", got, err, tc.want)
			}
		})
	}
}

func sameSession(a, b auth.Session) bool {
	return a.ID == b.ID && a.UserID == b.UserID && a.Email == b.Email &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}
