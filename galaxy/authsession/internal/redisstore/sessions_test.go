package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/redisstore"
	"galaxy/platform/apierror"
)

// openSession stores a live session of user with refresh token hash hash,
// the way a confirmed login does.
func openSession(t *testing.T, s *redisstore.Store, mr *miniredis.Miniredis, id, user, hash string) auth.Session {
	t.Helper()
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	mr.SetTime(now)
	sess := auth.Session{ID: id, UserID: user, Email: user + "@example.com", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateChallenge(ctx, auth.Challenge{ID: "c-" + id, Email: sess.Email, CodeHash: "x", CreatedAt: now}, now.Add(time.Minute)); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	if err := s.ConsumeChallengeForSession(ctx, "c-"+id, 5, auth.NewSession{Session: sess, RefreshTokenHash: hash}); err != nil {
		t.Fatalf("ConsumeChallengeForSession: %v", err)
	}
	return sess
}

func TestSessionRoundTrip(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	want := openSession(t, s, mr, "s1", "u1", "h1")
	got, err := s.Session(context.Background(), "s1")
	if err != nil || got != want {
		t.Errorf("Session() = %+v, %v; want %+v", got, err, want)
	}
	if v, _ := mr.Get("p:session-refresh:s1"); v != "h1" {
		t.Errorf("GET p:session-refresh:s1 = %q, want h1", v)
	}
	if got := mr.TTL("p:session-refresh:s1"); got != time.Hour {
		t.Errorf("TTL p:session-refresh:s1 = %v, want 1h", got)
	}
}

func TestMissingSession(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	cases := []struct {
		name string
		call func() error
		want apierror.Code
	}{
		{"Session", func() error { _, err := s.Session(ctx, "gone"); return err }, apierror.SessionNotFound},
		{"RefreshToken", func() error { _, err := s.RefreshToken(ctx, "gone"); return err }, apierror.InvalidRefreshToken},
		{"RotateRefreshToken", func() error {
			return s.RotateRefreshToken(ctx, auth.Rotation{SessionID: "gone", OldHash: "gone", NewHash: "h2"})
		}, apierror.InvalidRefreshToken},
		{"RevokeSession", func() error { return s.RevokeSession(ctx, "gone", "", auth.ReasonLogout) }, apierror.SessionNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !apierror.Is(err, tc.want) {
				t.Errorf("error = %v, want %s", err, tc.want)
			}
		})
	}
	if got, err := s.UserSessions(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("UserSessions(nobody) = %v, %v; want none", got, err)
	}
	if keys := mr.Keys(); len(keys) != 0 {
		t.Errorf("keys = %v, want none", keys)
	}
}

func TestMalformedSessionIsInternal(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	mr.HSet("p:session:bad", "status", "active", "user_id", "u1", "created_at", "yesterday")
	_, err := s.Session(context.Background(), "bad")
	if !apierror.Is(err, apierror.Internal) {
		t.Errorf("error = %v, want INTERNAL", err)
	}
}

func TestRotateRefreshToken(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	openSession(t, s, mr, "s1", "u1", "h1")
	mr.FastForward(10 * time.Minute)

	usedAt := time.UnixMilli(1_790_000_000_123)
	if err := s.RotateRefreshToken(ctx, auth.Rotation{SessionID: "s1", OldHash: "h1", NewHash: "h2", UsedAt: usedAt}); err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	if got, want := mustGet(t, mr, "p:refresh:h1"), "used:s1:1790000000123:h2"; got != want {
		t.Errorf("used token = %q, want %q (session, used at in ms, successor hash)", got, want)
	}
	tokens := []struct {
		hash string
		want auth.RefreshToken
	}{
		{"h1", auth.RefreshToken{SessionID: "s1", Used: true, UsedAt: usedAt, SuccessorHash: "h2"}},
		{"h2", auth.RefreshToken{SessionID: "s1"}},
	}
	for _, tc := range tokens {
		if got, err := s.RefreshToken(ctx, tc.hash); err != nil || !sameRefreshToken(got, tc.want) {
			t.Errorf("RefreshToken(%s) = %+v, %v; want %+v", tc.hash, got, err, tc.want)
		}
	}
	if got := mr.TTL("p:refresh:h1"); got != 50*time.Minute {
		t.Errorf("used token TTL = %v, want its old 50m", got)
	}

	err := s.RotateRefreshToken(ctx, auth.Rotation{SessionID: "s1", OldHash: "h1", NewHash: "h3"})
	if !errors.Is(err, auth.ErrRefreshTokenReused) {
		t.Errorf("rotating a used token: %v, want ErrRefreshTokenReused", err)
	}
	if mr.Exists("p:refresh:h3") {
		t.Error("a used token was rotated")
	}

	// A session that is not active cannot rotate.
	mr.HSet("p:session:s1", "status", "revoked")
	err = s.RotateRefreshToken(ctx, auth.Rotation{SessionID: "s1", OldHash: "h2", NewHash: "h4"})
	if !apierror.Is(err, apierror.InvalidRefreshToken) {
		t.Errorf("rotating for a revoked session: %v, want INVALID_REFRESH_TOKEN", err)
	}
}

func TestRevokeSession(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	openSession(t, s, mr, "s1", "u1", "h1")
	openSession(t, s, mr, "s2", "u1", "h2")
	if err := s.RotateRefreshToken(ctx, auth.Rotation{SessionID: "s1", OldHash: "h1", NewHash: "h1b"}); err != nil {
		t.Fatal(err)
	}
	sub := mr.NewSubscriber()
	defer sub.Close()
	sub.Subscribe("p:session-events")
	published := make(chan string, 4)
	go func() {
		for m := range sub.Messages() {
			published <- m.Message
		}
	}()

	if err := s.RevokeSession(ctx, "s1", "u2", auth.ReasonLogout); !apierror.Is(err, apierror.SessionNotFound) {
		t.Errorf("revoke by another owner: %v, want SESSION_NOT_FOUND", err)
	}
	if !mr.Exists("p:session:s1") {
		t.Fatal("another owner revoked the session")
	}
	if err := s.RevokeSession(ctx, "s1", "u1", auth.ReasonLogout); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	for _, key := range []string{"p:session:s1", "p:session-refresh:s1", "p:refresh:h1b"} {
		if mr.Exists(key) {
			t.Errorf("%s survives the revocation", key)
		}
	}
	if tok, err := s.RefreshToken(ctx, "h1"); err != nil || !tok.Used || tok.SessionID != "s1" {
		t.Errorf("used token = %+v, %v; want it kept, used, for s1, until it expires", tok, err)
	}
	if members, _ := mr.Members("p:user-sessions:u1"); len(members) != 1 || members[0] != "s2" {
		t.Errorf("user sessions = %v, want [s2]", members)
	}
	select {
	case got := <-published:
		if want := `{"type":"session.revoked","session_id":"s1","user_id":"u1","reason":"logout"}`; got != want {
			t.Errorf("published %s, want %s", got, want)
		}
	case <-time.After(time.Second):
		t.Fatal("no revocation signal published")
	}
	if err := s.RevokeSession(ctx, "s2", "", auth.ReasonReplay); err != nil {
		t.Errorf("RevokeSession(any owner): %v", err)
	}
}

func TestUserSessions(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	want := openSession(t, s, mr, "s1", "u1", "h1")
	openSession(t, s, mr, "s2", "u1", "h2")
	openSession(t, s, mr, "s3", "u1", "h3")
	mr.Del("p:session:s2")                   // expired
	mr.HSet("p:session:s3", "status", "off") // not active
	mr.SAdd("p:user-sessions:u1", "s9")      // never existed

	got, err := s.UserSessions(ctx, "u1")
	if err != nil || len(got) != 1 || got[0] != want {
		t.Errorf("UserSessions() = %+v, %v; want [%+v]", got, err, want)
	}
	members, _ := mr.Members("p:user-sessions:u1")
	if len(members) != 2 || members[0] != "s1" || members[1] != "s3" {
		t.Errorf("user sessions = %v, want [s1 s3] (expired ids removed)", members)
	}
}

func TestUserSessionsSetOnlyEverLivesLonger(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	mr.SetTime(now)
	// Sessions of one user opened in turn, each with the lifetime of its
	// time (the session lifetime is lowered, then raised again).
	steps := []struct {
		id       string
		lifetime time.Duration
		wantTTL  time.Duration
	}{
		{"s1", 2 * time.Hour, 2 * time.Hour},
		{"s2", time.Hour, 2 * time.Hour}, // ends sooner: s1 keeps its place
		{"s3", 3 * time.Hour, 3 * time.Hour},
	}
	for _, step := range steps {
		cid := "c-" + step.id
		if err := s.CreateChallenge(ctx, auth.Challenge{ID: cid, Email: "u1@example.com", CodeHash: "x", CreatedAt: now}, now.Add(time.Minute)); err != nil {
			t.Fatalf("CreateChallenge: %v", err)
		}
		sess := auth.Session{ID: step.id, UserID: "u1", Email: "u1@example.com", CreatedAt: now, ExpiresAt: now.Add(step.lifetime)}
		if err := s.ConsumeChallengeForSession(ctx, cid, 5, auth.NewSession{Session: sess, RefreshTokenHash: "h-" + step.id}); err != nil {
			t.Fatalf("ConsumeChallengeForSession(%s): %v", step.id, err)
		}
		if got := mr.TTL("p:user-sessions:u1"); got != step.wantTTL {
			t.Errorf("after %s: user sessions TTL = %v, want %v", step.id, got, step.wantTTL)
		}
	}

	// When the longest session but one ends, the set still holds the last.
	mr.FastForward(2*time.Hour + time.Second)
	got, err := s.UserSessions(ctx, "u1")
	if err != nil || len(got) != 1 || got[0].ID != "s3" {
		t.Errorf("UserSessions() after 2h = %+v, %v; want [s3]", got, err)
	}
}

func mustGet(t *testing.T, mr *miniredis.Miniredis, key string) string {
	t.Helper()
	v, err := mr.Get(key)
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return v
}

func sameRefreshToken(a, b auth.RefreshToken) bool {
	return a.SessionID == b.SessionID && a.Used == b.Used && a.UsedAt.Equal(b.UsedAt) && a.SuccessorHash == b.SuccessorHash
}

func TestRefreshTokenValues(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	cases := []struct {
		name, value string
		want        auth.RefreshToken
	}{
		{"current", "s1", auth.RefreshToken{SessionID: "s1"}},
		{"used", "used:s1:1790000000123:h2", auth.RefreshToken{SessionID: "s1", Used: true, UsedAt: time.UnixMilli(1_790_000_000_123), SuccessorHash: "h2"}},
		{"used, older form", "used:s1", auth.RefreshToken{SessionID: "s1", Used: true}},
		{"used, malformed time", "used:s1:soon:h2", auth.RefreshToken{SessionID: "s1", Used: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key := "h-" + strings.ReplaceAll(tc.name, " ", "-")
			mr.Set(s.RefreshKey(key), tc.value)
			got, err := s.RefreshToken(context.Background(), key)
			if err != nil || !sameRefreshToken(got, tc.want) {
				t.Errorf("RefreshToken(%q) = %+v, %v; want %+v", tc.value, got, err, tc.want)
			}
		})
	}
}
