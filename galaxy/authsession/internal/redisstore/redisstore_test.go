package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/redisstore"
	"galaxy/platform/apierror"
)

func newStore(t *testing.T, prefix string) (*redisstore.Store, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb, err := redisstore.NewClient("redis://" + mr.Addr() + "/0")
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	s, err := redisstore.New(rdb, prefix)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, mr
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		url          string
		wantProtocol int
		wantDB       int
		wantDial     time.Duration
	}{
		{"defaults to RESP2", "redis://127.0.0.1:6379/0", 2, 0, time.Second},
		{"database", "redis://127.0.0.1:6379/3", 2, 3, time.Second},
		{"explicit protocol", "redis://127.0.0.1:6379/0?protocol=3", 3, 0, time.Second},
		{"explicit timeout", "redis://127.0.0.1:6379/0?dial_timeout=5s", 2, 0, 5 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb, err := redisstore.NewClient(tc.url)
			if err != nil {
				t.Fatalf("NewClient(%q): %v", tc.url, err)
			}
			defer rdb.Close()
			o := rdb.Options()
			if o.Protocol != tc.wantProtocol || o.DB != tc.wantDB || o.DialTimeout != tc.wantDial || !o.DisableIdentity {
				t.Errorf("options protocol=%d db=%d dial=%v disableIdentity=%v; want %d, %d, %v, true",
					o.Protocol, o.DB, o.DialTimeout, o.DisableIdentity, tc.wantProtocol, tc.wantDB, tc.wantDial)
			}
		})
	}
	if _, err := redisstore.NewClient("http://127.0.0.1:6379"); err == nil {
		t.Error("NewClient(http URL) succeeded, want an error")
	}
}

func TestNewChecksTheClient(t *testing.T) {
	t.Parallel()
	if _, err := redisstore.New(nil, "p:"); err == nil {
		t.Error("New(nil) succeeded, want an error")
	}
}

func TestKeysUseThePrefix(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, "x:")
	cases := []struct{ got, want string }{
		{s.ChallengeKey("c"), "x:challenge:c"},
		{s.SessionKey("s"), "x:session:s"},
		{s.RefreshKey("h"), "x:refresh:h"},
		{s.UserSessionsKey("u"), "x:user-sessions:u"},
		{s.SessionRefreshKey("s"), "x:session-refresh:s"},
		{s.LimitKey("n"), "x:limit:n"},
		{s.EventsChannel(), "x:session-events"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("key = %q, want %q", c.got, c.want)
		}
	}
}

func TestChallengeRoundTrip(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	created := time.Unix(1_800_000_000, 0)
	mr.SetTime(created)
	c := auth.Challenge{ID: "cid", Email: "a@example.com", CodeHash: "abc", ClientID: "client", CreatedAt: created}
	if err := s.CreateChallenge(ctx, c, created.Add(90*time.Second)); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	if got := mr.TTL("p:challenge:cid"); got != 90*time.Second {
		t.Errorf("TTL = %v, want 90s", got)
	}
	got, err := s.Challenge(ctx, "cid")
	if err != nil {
		t.Fatalf("Challenge: %v", err)
	}
	if got != c {
		t.Errorf("Challenge() = %+v, want %+v", got, c)
	}
}

func TestMissingChallenge(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	cases := []struct {
		name string
		call func() error
	}{
		{"Challenge", func() error { _, err := s.Challenge(ctx, "gone"); return err }},
		{"RecordWrongCode", func() error { _, err := s.RecordWrongCode(ctx, "gone", 5); return err }},
		{"ConsumeChallenge", func() error { return s.ConsumeChallenge(ctx, "gone") }},
		{"ConsumeChallengeForSession", func() error {
			return s.ConsumeChallengeForSession(ctx, "gone", auth.NewSession{Session: auth.Session{ID: "s", UserID: "u"}, RefreshTokenHash: "h"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !apierror.Is(err, apierror.ChallengeNotFound) {
				t.Errorf("error = %v, want CHALLENGE_NOT_FOUND", err)
			}
			if keys := mr.Keys(); len(keys) != 0 {
				t.Errorf("keys = %v, want none (nothing is created for a missing challenge)", keys)
			}
		})
	}
	if err := s.DeleteChallenge(ctx, "gone"); err != nil {
		t.Errorf("DeleteChallenge(missing) = %v, want nil", err)
	}
}

func TestMalformedChallengeIsInternal(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	mr.HSet("p:challenge:bad", "email", "a@example.com", "attempts", "many")
	_, err := s.Challenge(context.Background(), "bad")
	if !apierror.Is(err, apierror.Internal) {
		t.Errorf("error = %v, want INTERNAL", err)
	}
}

func TestRedisDownIsDependencyUnavailable(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	mr.Close()
	ctx := context.Background()
	cases := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Session", func() error { _, err := s.Session(ctx, "s"); return err }},
		{"RefreshToken", func() error { _, err := s.RefreshToken(ctx, "h"); return err }},
		{"RotateRefreshToken", func() error {
			return s.RotateRefreshToken(ctx, auth.Rotation{SessionID: "s", OldHash: "h", NewHash: "h2"})
		}},
		{"RevokeSession", func() error { return s.RevokeSession(ctx, "s", "", auth.ReasonLogout) }},
		{"UserSessions", func() error { _, err := s.UserSessions(ctx, "u"); return err }},
		{"Hit", func() error { _, _, err := s.Hit(ctx, "n", time.Minute); return err }},
		{"Count", func() error { _, _, err := s.Count(ctx, "n"); return err }},
		{"Claim", func() error { _, _, err := s.Claim(ctx, "n", time.Minute); return err }},
		{"Release", func() error { return s.Release(ctx, "n") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !apierror.Is(err, apierror.DependencyUnavailable) || apierror.As(err).Metadata["dependency"] != "redis" {
				t.Errorf("%s() = %v, want DEPENDENCY_UNAVAILABLE for redis", tc.name, err)
			}
		})
	}
}
