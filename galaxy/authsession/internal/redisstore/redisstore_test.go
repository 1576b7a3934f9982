package redisstore_test

import (
	"context"
	"strings"
	"sync"
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
		{s.RevokeAllMarkKey(), "x:revoke-all-mark"},
		{s.UserRevokeAllKey("u"), "x:user-revoke-all:u"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("key = %q, want %q", c.got, c.want)
		}
	}
}

func TestNewClientErrorHidesThePassword(t *testing.T) {
	t.Parallel()
	for _, url := range []string{
		"redis://user:s3cretpw@127.0.0.1:notaport/0",
		"redis://user:s3cretpw@127.0.0.1:6379/notadb",
		"http://user:s3cretpw@127.0.0.1:6379/0",
	} {
		_, err := redisstore.NewClient(url)
		if err == nil {
			t.Errorf("NewClient(%q) succeeded, want an error", url)
			continue
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("NewClient error %q shows the password", err)
		}
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
		{"Unhit", func() error { return s.Unhit(ctx, "n") }},
		{"ReserveAttempt", func() error { _, err := s.ReserveAttempt(ctx, "c", 5); return err }},
		{"ReleaseAttempt", func() error { return s.ReleaseAttempt(ctx, "c") }},
		{"ConsumeChallenge", func() error { return s.ConsumeChallenge(ctx, "c", 5) }},
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

// TestRecoversAfterRestart checks that once Redis is back on its address,
// with its data or empty, the very first reads and transactions succeed:
// the pooled connections the restart broke are dropped before use.
func TestRecoversAfterRestart(t *testing.T) {
	t.Parallel()
	for _, keepData := range []bool{true, false} {
		name := map[bool]string{true: "with its data", false: "empty"}[keepData]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, mr := newStore(t, "p:")
			ctx := context.Background()
			// Fill the pool with several connections, all idle afterwards.
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					if _, _, err := s.Hit(ctx, "warm", time.Minute); err != nil {
						t.Errorf("Hit() before the restart: %v", err)
					}
				})
			}
			wg.Wait()

			mr.Close()
			if err := s.Ping(ctx); !apierror.Is(err, apierror.DependencyUnavailable) {
				t.Errorf("Ping() while Redis is down = %v, want DEPENDENCY_UNAVAILABLE", err)
			}
			if !keepData {
				mr.FlushAll()
			}
			if err := mr.Restart(); err != nil {
				t.Fatalf("restart redis: %v", err)
			}
			for i := range 8 {
				if _, _, err := s.Hit(ctx, "after", time.Minute); err != nil {
					t.Errorf("Hit() call %d after the restart: %v", i+1, err)
				}
				if err := s.ReleaseAttempt(ctx, "c"); err != nil {
					t.Errorf("ReleaseAttempt() call %d after the restart: %v", i+1, err)
				}
			}
		})
	}
}
