package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
)

// TestRevokeAllMarks: every revoke-all raises the mark, the user's mark is
// the mark of that user's latest revoke-all and expires after the time it
// is kept for.
func TestRevokeAllMarks(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	if got, err := s.RevokeAllMark(ctx); err != nil || got != 0 {
		t.Fatalf("RevokeAllMark() before any = %d, %v; want 0", got, err)
	}
	for i, user := range []string{"u1", "u2", "u1"} {
		if err := s.MarkRevokeAll(ctx, user, time.Minute); err != nil {
			t.Fatalf("MarkRevokeAll(%s): %v", user, err)
		}
		if got, err := s.RevokeAllMark(ctx); err != nil || got != int64(i+1) {
			t.Errorf("RevokeAllMark() after %d = %d, %v; want %d", i+1, got, err, i+1)
		}
	}
	for key, want := range map[string]string{"p:user-revoke-all:u1": "3", "p:user-revoke-all:u2": "2"} {
		if got, _ := mr.Get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
		if ttl := mr.TTL(key); ttl != time.Minute {
			t.Errorf("%s expires in %v, want 1m", key, ttl)
		}
	}

	// A user's mark never goes down: a revoke-all whose INCR came first but
	// whose write comes last leaves the higher mark.
	mr.Set("p:user-revoke-all:u1", "99")
	if err := s.MarkRevokeAll(ctx, "u1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _ := mr.Get("p:user-revoke-all:u1"); got != "99" {
		t.Errorf("user mark = %q after a lower mark was written, want 99", got)
	}
}

// TestConsumeRefusesASessionOfAUserRevokedSinceItsMark: a session whose
// login read the mark before a revoke-all of its user is refused and
// nothing is written; one read after it, or a revoke-all of another user,
// does not stop it.
func TestConsumeRefusesASessionOfAUserRevokedSinceItsMark(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	newSession := func(id string, mark int64) auth.NewSession {
		now := time.Unix(1_800_000_000, 0)
		return auth.NewSession{
			Session:          auth.Session{ID: id, UserID: "u1", Email: "a@example.com", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
			RefreshTokenHash: "h-" + id,
			RevokeAllMark:    mark,
		}
	}
	createChallenge(t, s, mr, "c1")
	mark, _ := s.RevokeAllMark(ctx)
	if err := s.MarkRevokeAll(ctx, "u2", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeChallengeForSession(ctx, "c1", 5, newSession("s1", mark)); err != nil {
		t.Fatalf("consume after another user's revoke-all: %v", err)
	}

	createChallenge(t, s, mr, "c2")
	mark, _ = s.RevokeAllMark(ctx)
	if err := s.MarkRevokeAll(ctx, "u1", time.Minute); err != nil {
		t.Fatal(err)
	}
	before := mr.Keys()
	err := s.ConsumeChallengeForSession(ctx, "c2", 5, newSession("s2", mark))
	if !errors.Is(err, auth.ErrRevokedMeanwhile) {
		t.Fatalf("consume after the user's revoke-all = %v, want ErrRevokedMeanwhile", err)
	}
	if after := mr.Keys(); len(after) != len(before) || mr.Exists("p:session:s2") || !mr.Exists("p:challenge:c2") {
		t.Errorf("keys = %v after the refusal, want them as before (%v): no session, the challenge kept", after, before)
	}

	mark, _ = s.RevokeAllMark(ctx)
	if err := s.ConsumeChallengeForSession(ctx, "c2", 5, newSession("s3", mark)); err != nil {
		t.Errorf("consume with the mark read after the revoke-all: %v", err)
	}
}
