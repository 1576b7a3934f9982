package redisstore_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/redisstore"
	"galaxy/platform/apierror"
)

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

func TestMalformedChallengeIsInternal(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	mr.HSet("p:challenge:bad", "email", "a@example.com", "attempts", "many")
	_, err := s.Challenge(context.Background(), "bad")
	if !apierror.Is(err, apierror.Internal) {
		t.Errorf("error = %v, want INTERNAL", err)
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
