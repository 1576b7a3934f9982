package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"galaxy/platform/apierror"
	"galaxy/platform/redisconn"
	"galaxy/user/internal/redisstore"
	"galaxy/user/internal/users"
)

// TestMain keeps go-redis's own lines (a Redis that is down) off the
// test's output.
func TestMain(m *testing.M) {
	redisconn.RouteLogs(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

func newStore(t *testing.T, prefix string) (*redisstore.Store, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb, err := redisstore.NewClient("redis://"+mr.Addr()+"/0", time.Second)
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

var t0 = time.UnixMilli(1_800_000_000_123)

// candidate is a new active user of email.
func candidate(email string) users.User {
	return users.User{ID: users.NewID(), Email: email, Status: users.Active, Generation: 1, CreatedAt: t0, StatusChangedAt: t0}
}

// resolve resolves email and fails the test on error.
func resolve(t *testing.T, s *redisstore.Store, email string) users.User {
	t.Helper()
	u, _, err := s.Resolve(context.Background(), email, candidate(email))
	if err != nil {
		t.Fatalf("Resolve(%q): %v", email, err)
	}
	return u
}

func TestKeysUseThePrefix(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, "x:")
	for got, want := range map[string]string{
		s.UserKey("usr_1"):          "x:user:usr_1",
		s.EmailKey("a@example.com"): "x:email:a@example.com",
		s.RevocationsKey():          "x:revocations",
		s.ClaimKey("usr_1"):         "x:revocation-claim:usr_1",
	} {
		if got != want {
			t.Errorf("key = %q, want %q", got, want)
		}
	}
}

func TestResolveCreatesOnceThenFinds(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	first := candidate("ada@example.com")
	got, created, err := s.Resolve(ctx, "ada@example.com", first)
	if err != nil || !created || got != first {
		t.Fatalf("first Resolve = %+v, %v, %v; want the candidate, created", got, created, err)
	}
	again, created, err := s.Resolve(ctx, "ada@example.com", candidate("ada@example.com"))
	if err != nil || created || again != first {
		t.Fatalf("second Resolve = %+v, %v, %v; want the first user, not created", again, created, err)
	}
	if byID, err := s.User(ctx, first.ID); err != nil || byID != first {
		t.Errorf("User(%s) = %+v, %v; want %+v", first.ID, byID, err, first)
	}
	if id, _ := mr.Get("p:email:ada@example.com"); id != first.ID {
		t.Errorf("email index = %q, want %q", id, first.ID)
	}
	fields := map[string]string{
		"id": first.ID, "email": "ada@example.com", "status": "active", "generation": "1",
		"created_at": "1800000000123", "status_changed_at": "1800000000123",
	}
	for field, want := range fields {
		if got := mr.HGet("p:user:"+first.ID, field); got != want {
			t.Errorf("user field %s = %q, want %q", field, got, want)
		}
	}
	if keys, _ := mr.HKeys("p:user:" + first.ID); len(keys) != len(fields) {
		t.Errorf("user fields = %v, want exactly %d", keys, len(fields))
	}
}

// TestConcurrentResolvesCreateOneUser: however many resolves of one new
// email race, one user is created and every resolve answers it.
func TestConcurrentResolvesCreateOneUser(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	const n = 16
	ids := make([]string, n)
	var creations int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u, created, err := s.Resolve(context.Background(), "race@example.com", candidate("race@example.com"))
			if err != nil {
				t.Errorf("Resolve: %v", err)
				return
			}
			ids[i] = u.ID
			if created {
				mu.Lock()
				creations++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if creations != 1 {
		t.Errorf("%d resolves created a user, want exactly 1", creations)
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("resolves answered users %v, want one", ids)
		}
	}
	var userKeys int
	for _, k := range mr.Keys() {
		if len(k) > len("p:user:") && k[:len("p:user:")] == "p:user:" {
			userKeys++
		}
	}
	if userKeys != 1 {
		t.Errorf("user records = %d, want 1 (keys %v)", userKeys, mr.Keys())
	}
}

func TestUnknownUser(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	calls := map[string]func() error{
		"User":    func() error { _, err := s.User(ctx, "usr_nobody"); return err },
		"Disable": func() error { _, err := s.Disable(ctx, "usr_nobody", t0, ""); return err },
		"Enable":  func() error { _, err := s.Enable(ctx, "usr_nobody", t0); return err },
	}
	for name, call := range calls {
		if err := call(); !apierror.Is(err, apierror.NotFound) {
			t.Errorf("%s(unknown) = %v, want NOT_FOUND", name, err)
		}
	}
	if keys := mr.Keys(); len(keys) != 0 {
		t.Errorf("keys = %v, want none", keys)
	}
}

func TestDisableEnqueuesTheRevocationWithTheStatus(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	u := resolve(t, s, "ada@example.com")
	at := t0.Add(time.Minute)
	const trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

	got, err := s.Disable(ctx, u.ID, at, trace)
	if err != nil {
		t.Fatalf("Disable: %v", err)
	}
	want := u
	want.Status, want.Generation, want.StatusChangedAt = users.Disabled, 2, at
	want.Revocation = users.Revocation{Pending: 2, NextAttemptAt: at, Traceparent: trace}
	if got != want {
		t.Errorf("Disable() = %+v, want %+v", got, want)
	}
	if stored, _ := s.User(ctx, u.ID); stored != want {
		t.Errorf("stored user = %+v, want %+v", stored, want)
	}
	if score, err := mr.ZScore("p:revocations", u.ID); err != nil || score != float64(at.UnixMilli()) {
		t.Errorf("outbox score = %v, %v; want %d (due at the disable)", score, err, at.UnixMilli())
	}

	// A second disable changes nothing.
	again, err := s.Disable(ctx, u.ID, at.Add(time.Minute), "")
	if err != nil || again != want {
		t.Errorf("second Disable() = %+v, %v; want it unchanged %+v", again, err, want)
	}
}

func TestEnableWaitsForTheRevocation(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, "p:")
	ctx := context.Background()
	u := resolve(t, s, "ada@example.com")
	if _, err := s.Disable(ctx, u.ID, t0, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enable(ctx, u.ID, t0); !errors.Is(err, users.ErrRevocationPending) {
		t.Fatalf("Enable while the revocation is pending = %v, want ErrRevocationPending", err)
	}
	if stored, _ := s.User(ctx, u.ID); stored.Status != users.Disabled || stored.Generation != 2 {
		t.Errorf("after a refused enable: %+v, want it disabled at generation 2", stored)
	}
	if err := s.AckRevocation(ctx, u.ID, 2, t0.Add(time.Second), 3); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	got, err := s.Enable(ctx, u.ID, at)
	if err != nil || got.Status != users.Active || got.Generation != 3 || !got.StatusChangedAt.Equal(at) {
		t.Fatalf("Enable after the acknowledgement = %+v, %v; want active at generation 3", got, err)
	}
	if got.Revocation != (users.Revocation{Done: 2, DoneAt: t0.Add(time.Second), Revoked: 3}) {
		t.Errorf("revocation = %+v, want the done one of generation 2", got.Revocation)
	}
	if again, err := s.Enable(ctx, u.ID, at.Add(time.Minute)); err != nil || again != got {
		t.Errorf("second Enable() = %+v, %v; want it unchanged", again, err)
	}
}

func TestOutboxDeliveryCycle(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	a, b := resolve(t, s, "a@example.com"), resolve(t, s, "b@example.com")
	s.Disable(ctx, a.ID, t0, "")
	s.Disable(ctx, b.ID, t0.Add(time.Second), "")

	ids, next, err := s.DueRevocations(ctx, t0, 10)
	if err != nil || len(ids) != 1 || ids[0] != a.ID || !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("DueRevocations(t0) = %v, %v, %v; want [a] and b next at t0+1s", ids, next, err)
	}

	// A claim is exclusive and hides the entry until it lapses.
	claimed, ok, err := s.ClaimRevocation(ctx, a.ID, t0, 3*time.Second)
	if err != nil || !ok || claimed.Revocation.Pending != 2 {
		t.Fatalf("ClaimRevocation = %+v, %v, %v; want the pending user", claimed, ok, err)
	}
	if _, ok, _ := s.ClaimRevocation(ctx, a.ID, t0, 3*time.Second); ok {
		t.Error("a second claim was granted while the first holds")
	}
	if ids, _, _ := s.DueRevocations(ctx, t0.Add(2*time.Second), 10); len(ids) != 1 || ids[0] != b.ID {
		t.Errorf("due while a is claimed = %v, want only b", ids)
	}
	if ttl := mr.TTL("p:revocation-claim:" + a.ID); ttl != 3*time.Second {
		t.Errorf("claim TTL = %v, want 3s", ttl)
	}

	// A failure records the attempt and when the next is due, and releases.
	nextAt := t0.Add(10 * time.Second)
	if err := s.FailRevocation(ctx, a.ID, 2, 1, "authsession is unavailable", nextAt); err != nil {
		t.Fatal(err)
	}
	failed, _ := s.User(ctx, a.ID)
	if r := failed.Revocation; r.Pending != 2 || r.Attempts != 1 || r.LastError != "authsession is unavailable" || !r.NextAttemptAt.Equal(nextAt) {
		t.Errorf("after a failure: %+v", r)
	}
	if mr.Exists("p:revocation-claim:" + a.ID) {
		t.Error("the claim survives the failure")
	}
	if score, _ := mr.ZScore("p:revocations", a.ID); score != float64(nextAt.UnixMilli()) {
		t.Errorf("outbox score = %v, want the next attempt's %d", score, nextAt.UnixMilli())
	}
	// A deliverer that read it due before the failure settled does not claim it before its next attempt.
	if _, ok, err := s.ClaimRevocation(ctx, a.ID, t0.Add(time.Second), time.Second); ok || err != nil {
		t.Errorf("ClaimRevocation before the next attempt = %v, %v; want it left to its time", ok, err)
	}
	if mr.Exists("p:revocation-claim:" + a.ID) {
		t.Error("a claim refused as early is left behind")
	}

	// An acknowledgement ends it.
	s.ClaimRevocation(ctx, a.ID, nextAt, time.Second)
	if err := s.AckRevocation(ctx, a.ID, 2, nextAt, 4); err != nil {
		t.Fatal(err)
	}
	done, _ := s.User(ctx, a.ID)
	if done.Revocation != (users.Revocation{Done: 2, DoneAt: nextAt, Revoked: 4}) {
		t.Errorf("after the acknowledgement: %+v, want done for generation 2 with 4 sessions", done.Revocation)
	}
	if members, _ := mr.ZMembers("p:revocations"); slices.Contains(members, a.ID) || mr.Exists("p:revocation-claim:"+a.ID) {
		t.Errorf("the acknowledged revocation is still in the outbox (%v) or claimed", members)
	}
	for _, f := range []string{"revocation_pending", "revocation_attempts", "revocation_error", "revocation_next_at", "revocation_traceparent"} {
		if mr.HGet("p:user:"+a.ID, f) != "" {
			t.Errorf("field %s survives the acknowledgement", f)
		}
	}

	// A release makes the entry due at once.
	s.ClaimRevocation(ctx, b.ID, t0.Add(time.Second), time.Minute)
	if err := s.ReleaseRevocation(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if ids, _, _ := s.DueRevocations(ctx, t0, 10); len(ids) != 1 || ids[0] != b.ID {
		t.Errorf("due after the release = %v, want b at once", ids)
	}
}

// TestOutcomesOfAnotherGenerationChangeNothing: an acknowledgement or a
// failure that comes for a generation that is no longer pending (a late
// delivery) changes nothing but releases its claim.
func TestOutcomesOfAnotherGenerationChangeNothing(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	u := resolve(t, s, "ada@example.com")
	s.Disable(ctx, u.ID, t0, "")
	s.AckRevocation(ctx, u.ID, 2, t0, 1)
	s.Enable(ctx, u.ID, t0)
	s.Disable(ctx, u.ID, t0, "") // generation 4
	before, _ := s.User(ctx, u.ID)

	s.ClaimRevocation(ctx, u.ID, t0, time.Minute)
	if err := s.AckRevocation(ctx, u.ID, 2, t0.Add(time.Hour), 9); err != nil {
		t.Fatal(err)
	}
	if err := s.FailRevocation(ctx, u.ID, 3, 7, "late", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.User(ctx, u.ID); after != before {
		t.Errorf("user = %+v after outcomes of other generations, want %+v", after, before)
	}
	if mr.Exists("p:revocation-claim:" + u.ID) {
		t.Error("the claim was not released")
	}
}

func TestClaimDropsAStaleEntry(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	u := resolve(t, s, "ada@example.com")
	mr.ZAdd("p:revocations", 0, u.ID)
	mr.ZAdd("p:revocations", 0, "usr_gone")
	for _, id := range []string{u.ID, "usr_gone"} {
		if _, ok, err := s.ClaimRevocation(ctx, id, t0, time.Second); ok || err != nil {
			t.Errorf("ClaimRevocation(%s) = %v, %v; want nothing to claim", id, ok, err)
		}
	}
	if members, _ := mr.ZMembers("p:revocations"); len(members) != 0 {
		t.Errorf("outbox = %v, want the stale entries dropped", members)
	}
}

func TestMalformedRecordsAreInternal(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	mr.HSet("p:user:usr_bad", "id", "usr_bad", "email", "a@example.com", "status", "active", "generation", "one")
	mr.HSet("p:user:usr_odd", "id", "usr_odd", "email", "b@example.com", "status", "frozen", "generation", "1")
	mr.Set("p:email:c@example.com", "usr_missing")
	taken := candidate("d@example.com")
	taken.ID = "usr_bad"
	for name, err := range map[string]error{
		"bad number": func() error { _, err := s.User(ctx, "usr_bad"); return err }(),
		"bad status": func() error { _, err := s.User(ctx, "usr_odd"); return err }(),
		"new id taken": func() error {
			_, _, err := s.Resolve(ctx, "d@example.com", taken)
			return err
		}(),
		"index without its user": func() error {
			_, _, err := s.Resolve(ctx, "c@example.com", candidate("c@example.com"))
			return err
		}(),
	} {
		if !apierror.Is(err, apierror.Internal) {
			t.Errorf("%s: %v, want INTERNAL", name, err)
		}
	}
}

func TestRedisDownIsDependencyUnavailable(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	u := resolve(t, s, "ada@example.com")
	mr.Close()
	calls := map[string]func() error{
		"Ping":    func() error { return s.Ping(ctx) },
		"Resolve": func() error { _, _, err := s.Resolve(ctx, "b@example.com", candidate("b@example.com")); return err },
		"User":    func() error { _, err := s.User(ctx, u.ID); return err },
		"Disable": func() error { _, err := s.Disable(ctx, u.ID, t0, ""); return err },
		"Enable":  func() error { _, err := s.Enable(ctx, u.ID, t0); return err },
		"Due":     func() error { _, _, err := s.DueRevocations(ctx, t0, 1); return err },
		"Claim":   func() error { _, _, err := s.ClaimRevocation(ctx, u.ID, t0, time.Second); return err },
		"Ack":     func() error { return s.AckRevocation(ctx, u.ID, 2, t0, 0) },
		"Fail":    func() error { return s.FailRevocation(ctx, u.ID, 2, 1, "x", t0) },
		"Release": func() error { return s.ReleaseRevocation(ctx, u.ID) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !apierror.Is(err, apierror.DependencyUnavailable) || apierror.As(err).Metadata["dependency"] != "redis" {
				t.Errorf("error = %v, want DEPENDENCY_UNAVAILABLE (redis)", err)
			}
		})
	}
}

func TestNewChecksTheClient(t *testing.T) {
	t.Parallel()
	if _, err := redisstore.New(nil, "p:"); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := redisstore.NewClient("http://"+fmt.Sprint("x"), time.Second); err == nil {
		t.Error("NewClient accepted a URL that is not redis://")
	}
}
