package redisstore_test

import (
	"context"
	"testing"
	"time"

	"galaxy/platform/apierror"
)

func TestHitCountsInAFixedWindow(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	const window = 1500 * time.Millisecond

	steps := []struct {
		forward   time.Duration
		wantCount int64
		wantLeft  time.Duration
	}{
		{0, 1, window},
		{500 * time.Millisecond, 2, time.Second},
		{500 * time.Millisecond, 3, 500 * time.Millisecond},
		{500 * time.Millisecond, 1, window}, // a new window
	}
	for i, step := range steps {
		mr.FastForward(step.forward)
		n, left, err := s.Hit(ctx, "n", window)
		if err != nil || n != step.wantCount || left != step.wantLeft {
			t.Errorf("hit #%d = %d, %v, %v; want %d, %v", i+1, n, left, err, step.wantCount, step.wantLeft)
		}
	}
	if n, left, err := s.Count(ctx, "n"); err != nil || n != 1 || left != window {
		t.Errorf("Count() = %d, %v, %v; want 1, %v", n, left, err, window)
	}
	if n, left, err := s.Count(ctx, "none"); err != nil || n != 0 || left != 0 {
		t.Errorf("Count(missing) = %d, %v, %v; want 0, 0", n, left, err)
	}
}

func TestClaimAndRelease(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()

	steps := []struct {
		name        string
		do          func()
		wantClaimed bool
		wantLeft    time.Duration
	}{
		{"free", func() {}, true, 30 * time.Second},
		{"taken", func() { mr.FastForward(10 * time.Second) }, false, 20 * time.Second},
		{"released", func() { s.Release(ctx, "c") }, true, 30 * time.Second},
		{"expired", func() { mr.FastForward(30 * time.Second) }, true, 30 * time.Second},
	}
	for _, step := range steps {
		step.do()
		claimed, left, err := s.Claim(ctx, "c", 30*time.Second)
		if err != nil || claimed != step.wantClaimed || left != step.wantLeft {
			t.Errorf("%s: Claim() = %v, %v, %v; want %v, %v", step.name, claimed, left, err, step.wantClaimed, step.wantLeft)
		}
	}
	if !mr.Exists("p:limit:c") {
		t.Error("no key p:limit:c")
	}
}

func TestMalformedCounterIsInternal(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	mr.Set("p:limit:n", "many")
	if _, _, err := s.Count(context.Background(), "n"); !apierror.Is(err, apierror.Internal) {
		t.Errorf("error = %v, want INTERNAL", err)
	}
}

func TestUnhitTakesBackAHitInItsWindow(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	ctx := context.Background()
	for range 2 {
		if _, _, err := s.Hit(ctx, "n", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	mr.FastForward(10 * time.Second)

	steps := []int64{1, 0, 0} // never below zero
	for i, want := range steps {
		if err := s.Unhit(ctx, "n"); err != nil {
			t.Fatalf("Unhit #%d: %v", i+1, err)
		}
		if n, left, err := s.Count(ctx, "n"); err != nil || n != want || left != 50*time.Second {
			t.Errorf("after Unhit #%d: Count() = %d, %v, %v; want %d, 50s (the window is kept)", i+1, n, left, err, want)
		}
	}
	if n, left, err := s.Hit(ctx, "n", time.Minute); err != nil || n != 1 || left != 50*time.Second {
		t.Errorf("Hit() after Unhit = %d, %v, %v; want 1 in the same window", n, left, err)
	}

	// A window that has ended is not brought back.
	mr.FastForward(time.Minute)
	if err := s.Unhit(ctx, "n"); err != nil {
		t.Fatalf("Unhit after the window: %v", err)
	}
	if keys := mr.Keys(); len(keys) != 0 {
		t.Errorf("keys = %v, want none", keys)
	}
}

func TestUnhitMalformedCounterIsInternal(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	mr.Set("p:limit:n", "many")
	if err := s.Unhit(context.Background(), "n"); !apierror.Is(err, apierror.Internal) {
		t.Errorf("error = %v, want INTERNAL", err)
	}
}
