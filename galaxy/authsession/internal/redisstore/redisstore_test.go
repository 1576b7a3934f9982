package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
		{"ReserveAttempt", func() error { _, err := s.ReserveAttempt(ctx, "gone", 5); return err }},
		{"ConsumeChallenge", func() error { return s.ConsumeChallenge(ctx, "gone", 5) }},
		{"ConsumeChallengeForSession", func() error {
			return s.ConsumeChallengeForSession(ctx, "gone", 5, auth.NewSession{Session: auth.Session{ID: "s", UserID: "u"}, RefreshTokenHash: "h"})
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
	if err := s.ReleaseAttempt(ctx, "gone"); err != nil {
		t.Errorf("ReleaseAttempt(missing) = %v, want nil", err)
	}
	if keys := mr.Keys(); len(keys) != 0 {
		t.Errorf("keys = %v, want none (nothing is created for a missing challenge)", keys)
	}
}

// createChallenge stores challenge id, expiring in a minute.
func createChallenge(t *testing.T, s *redisstore.Store, mr *miniredis.Miniredis, id string) {
	t.Helper()
	now := time.Unix(1_800_000_000, 0)
	mr.SetTime(now)
	c := auth.Challenge{ID: id, Email: "a@example.com", CodeHash: "abc", CreatedAt: now}
	if err := s.CreateChallenge(context.Background(), c, now.Add(time.Minute)); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
}

func TestReserveAndReleaseAttempts(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	createChallenge(t, s, mr, "cid")
	key := "p:challenge:cid"

	for want := 1; want <= 3; want++ {
		c, err := s.ReserveAttempt(ctx, "cid", 3)
		if err != nil || c.Attempts != want || c.CodeHash != "abc" || c.Email != "a@example.com" {
			t.Fatalf("reservation #%d = %+v, %v; want the challenge with %d attempts", want, c, err, want)
		}
		if got := mr.HGet(key, "attempts"); got != strconv.Itoa(want) {
			t.Errorf("after reservation #%d: attempts = %q, want %d", want, got, want)
		}
	}
	if err := s.ReleaseAttempt(ctx, "cid"); err != nil {
		t.Fatalf("ReleaseAttempt: %v", err)
	}
	if got := mr.HGet(key, "attempts"); got != "2" {
		t.Errorf("after a release: attempts = %q, want 2", got)
	}
	if got := mr.TTL(key); got != time.Minute {
		t.Errorf("TTL = %v, want the challenge's 1m kept", got)
	}
	if c, err := s.ReserveAttempt(ctx, "cid", 3); err != nil || c.Attempts != 3 {
		t.Fatalf("reservation after a release = %+v, %v; want 3 attempts", c, err)
	}

	// Every attempt is counted: the challenge is as good as burned, and the
	// next reservation is refused and counts nothing.
	_, err := s.ReserveAttempt(ctx, "cid", 3)
	if !apierror.Is(err, apierror.ChallengeNotFound) {
		t.Errorf("reservation past the limit: %v, want CHALLENGE_NOT_FOUND", err)
	}
	if got := mr.HGet(key, "attempts"); got != "3" {
		t.Errorf("after a refused reservation: attempts = %q, want 3", got)
	}
}

func TestReleaseAttemptStopsAtZero(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	createChallenge(t, s, mr, "cid")
	if err := s.ReleaseAttempt(context.Background(), "cid"); err != nil {
		t.Fatalf("ReleaseAttempt: %v", err)
	}
	if got := mr.HGet("p:challenge:cid", "attempts"); got != "0" {
		t.Errorf("attempts = %q, want 0", got)
	}
}

func TestConcurrentReservationsNeverPassTheLimit(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	createChallenge(t, s, mr, "cid")

	const n, limit = 24, 5
	var reserved atomic.Int64
	var wg sync.WaitGroup
	seen := make([]atomic.Int64, limit+1)
	for range n {
		wg.Go(func() {
			c, err := s.ReserveAttempt(context.Background(), "cid", limit)
			switch {
			case err == nil:
				reserved.Add(1)
				if c.Attempts < 1 || c.Attempts > limit {
					t.Errorf("reserved attempt %d, want 1..%d", c.Attempts, limit)
					return
				}
				seen[c.Attempts].Add(1)
			case !apierror.Is(err, apierror.ChallengeNotFound):
				t.Errorf("ReserveAttempt: %v, want success or CHALLENGE_NOT_FOUND", err)
			}
		})
	}
	wg.Wait()
	if got := reserved.Load(); got != limit {
		t.Errorf("reservations = %d, want exactly %d", got, limit)
	}
	for i := 1; i <= limit; i++ {
		if got := seen[i].Load(); got != 1 {
			t.Errorf("attempt %d was handed out %d times, want once", i, got)
		}
	}
	if got := mr.HGet("p:challenge:cid", "attempts"); got != strconv.Itoa(limit) {
		t.Errorf("attempts = %q, want %d", got, limit)
	}
}

func TestConsumeRefusesAChallengePastTheLimit(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	sess := auth.NewSession{Session: auth.Session{ID: "s", UserID: "u", ExpiresAt: time.Unix(1_800_003_600, 0)}, RefreshTokenHash: "h"}
	cases := []struct {
		name    string
		consume func(id string) error
	}{
		{"ConsumeChallenge", func(id string) error { return s.ConsumeChallenge(ctx, id, 2) }},
		{"ConsumeChallengeForSession", func(id string) error { return s.ConsumeChallengeForSession(ctx, id, 2, sess) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// At the limit the right code still counts.
			createChallenge(t, s, mr, "at")
			mr.HSet("p:challenge:at", "attempts", "2")
			if err := tc.consume("at"); err != nil {
				t.Errorf("consume at the limit: %v, want success", err)
			}
			mr.FlushAll()

			// Past it (the limit was lowered meanwhile) the challenge burns.
			createChallenge(t, s, mr, "past")
			mr.HSet("p:challenge:past", "attempts", "3")
			if err := tc.consume("past"); !apierror.Is(err, apierror.ChallengeNotFound) {
				t.Errorf("consume past the limit: %v, want CHALLENGE_NOT_FOUND", err)
			}
			if keys := mr.Keys(); len(keys) != 0 {
				t.Errorf("keys = %v, want none (burned, no session written)", keys)
			}
		})
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

func TestConsumeLeavesATombstoneForTheRetryWindow(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	now := time.UnixMilli(1_800_000_000_250)
	createChallenge(t, s, mr, "c")
	mr.SetTime(now)
	mr.HSet("p:challenge:c", "attempts", "2")
	ns := auth.NewSession{
		Session:          auth.Session{ID: "s", UserID: "u", ExpiresAt: time.Unix(1_800_003_600, 0)},
		RefreshTokenHash: "h",
		ConsumedAt:       now,
		RetryUntil:       now.Add(30 * time.Second),
	}
	if err := s.ConsumeChallengeForSession(ctx, "c", 5, ns); err != nil {
		t.Fatalf("ConsumeChallengeForSession: %v", err)
	}

	got, err := s.Challenge(ctx, "c")
	if err != nil {
		t.Fatalf("Challenge(tombstone): %v", err)
	}
	if got.SessionID != "s" || !got.ConsumedAt.Equal(now) || got.CodeHash == "" || got.Attempts != 2 || got.ClientID != "" {
		t.Errorf("tombstone = %+v, want session s, consumed at %v, the code hash, attempts 2 and no client id", got, now)
	}
	if ttl := mr.TTL("p:challenge:c"); ttl != 30*time.Second {
		t.Errorf("tombstone TTL = %v, want 30s (the retry window)", ttl)
	}
	cases := []struct {
		name string
		call func() error
	}{
		{"ConsumeChallenge", func() error { return s.ConsumeChallenge(ctx, "c", 5) }},
		{"ConsumeChallengeForSession", func() error {
			return s.ConsumeChallengeForSession(ctx, "c", 5, auth.NewSession{Session: auth.Session{ID: "s2", UserID: "u", ExpiresAt: ns.ExpiresAt}, RefreshTokenHash: "h2"})
		}},
	}
	for _, tc := range cases {
		if err := tc.call(); !apierror.Is(err, apierror.ChallengeNotFound) {
			t.Errorf("%s(tombstone) = %v, want CHALLENGE_NOT_FOUND (consumed once only)", tc.name, err)
		}
	}
	if mr.Exists("p:session:s2") {
		t.Error("a tombstone opened a second session")
	}
	// Codes compared against the tombstone still count, up to the limit.
	for want := 3; want <= 5; want++ {
		c, err := s.ReserveAttempt(ctx, "c", 5)
		if err != nil || c.Attempts != want || c.SessionID != "s" {
			t.Fatalf("ReserveAttempt(tombstone) = %+v, %v; want attempt %d of the tombstone", c, err, want)
		}
	}
	if _, err := s.ReserveAttempt(ctx, "c", 5); !apierror.Is(err, apierror.ChallengeNotFound) {
		t.Errorf("ReserveAttempt past the limit = %v, want CHALLENGE_NOT_FOUND", err)
	}
	mr.FastForward(30 * time.Second)
	if _, err := s.Challenge(ctx, "c"); !apierror.Is(err, apierror.ChallengeNotFound) {
		t.Errorf("Challenge after the window = %v, want CHALLENGE_NOT_FOUND", err)
	}
}

func TestConsumeWithoutARetryWindowDeletes(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	createChallenge(t, s, mr, "c")
	ns := auth.NewSession{Session: auth.Session{ID: "s", UserID: "u", ExpiresAt: time.Unix(1_800_003_600, 0)}, RefreshTokenHash: "h", ConsumedAt: time.Now()}
	if err := s.ConsumeChallengeForSession(context.Background(), "c", 5, ns); err != nil {
		t.Fatalf("ConsumeChallengeForSession: %v", err)
	}
	if mr.Exists("p:challenge:c") {
		t.Error("the challenge survives without a retry window")
	}
}
