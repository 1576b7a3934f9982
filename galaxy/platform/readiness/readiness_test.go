package readiness_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"galaxy/platform/apierror"
	"galaxy/platform/readiness"
)

func pass(context.Context) error { return nil }
func fail(context.Context) error { return errors.New("connection refused") }

// hang waits for its context, as a check of a frozen dependency does.
func hang(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		redis   func(context.Context) error
		auth    func(context.Context) error
		wantDep string // "" means ready
		wantAll string
	}{
		{"both answer", pass, pass, "", ""},
		{"redis fails", fail, pass, "redis", "redis"},
		{"authsession fails", pass, fail, "authsession", "authsession"},
		{"both fail", fail, fail, "redis", "redis,authsession"},
		{"authsession hangs", pass, hang, "authsession", "authsession"},
		{"both hang", hang, hang, "redis", "redis,authsession"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := readiness.New(100*time.Millisecond,
				readiness.Dependency{Name: "redis", Check: tt.redis},
				readiness.Dependency{Name: "authsession", Check: tt.auth})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			err = c.Check(t.Context())
			if tt.wantDep == "" {
				if err != nil {
					t.Errorf("Check() = %v, want nil", err)
				}
				return
			}
			e := apierror.As(err)
			if e.Code != apierror.DependencyUnavailable || e.Metadata["dependency"] != tt.wantDep || e.Metadata["dependencies"] != tt.wantAll {
				t.Errorf("Check() = %v %v, want DEPENDENCY_UNAVAILABLE dependency=%s dependencies=%s", err, e.Metadata, tt.wantDep, tt.wantAll)
			}
		})
	}
}

// TestCheckIsBounded checks that a check answers by its own bound, not by
// its dependencies' deadlines, even when a dependency's check ignores its
// context altogether.
func TestCheckIsBounded(t *testing.T) {
	t.Parallel()
	const bound = 200 * time.Millisecond
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stuck := func(context.Context) error { <-release; return nil }
	tests := []struct {
		name  string
		check func(context.Context) error
	}{
		{"a check that honours its context", hang},
		{"a check that ignores its context", stuck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := readiness.New(bound, readiness.Dependency{Name: "authsession", Check: tt.check})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			start := time.Now()
			err = c.Check(ctx)
			// The margin absorbs scheduling delays under load; a check that
			// waited for its dependency would take the minute.
			if elapsed := time.Since(start); elapsed > bound+2*time.Second {
				t.Errorf("Check() took %v, want about the %v bound", elapsed, bound)
			}
			if e := apierror.As(err); e.Code != apierror.DependencyUnavailable || e.Metadata["dependency"] != "authsession" {
				t.Errorf("Check() = %v, want DEPENDENCY_UNAVAILABLE dependency=authsession", err)
			}
		})
	}
}

func TestCallerGivingUpIsNotADependencyFailure(t *testing.T) {
	t.Parallel()
	c, err := readiness.New(time.Minute, readiness.Dependency{Name: "redis", Check: hang})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Check(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Check(cancelled context) = %v, want context.Canceled", err)
	}
}

// TestConcurrentCallersShareOneCheck checks that however many probes come
// at once, each dependency is asked by one check at a time.
func TestConcurrentCallersShareOneCheck(t *testing.T) {
	t.Parallel()
	var inFlight, most, calls atomic.Int32
	check := func(ctx context.Context) error {
		calls.Add(1)
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	}
	c, err := readiness.New(time.Minute, readiness.Dependency{Name: "redis", Check: check})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	const callers = 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() { errs <- c.Check(t.Context()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Check() = %v, want nil", err)
		}
	}
	if got := most.Load(); got != 1 {
		t.Errorf("at most %d checks ran at once, want 1", got)
	}
	if got := calls.Load(); got < 1 || got > callers {
		t.Errorf("the dependency was checked %d times, want from 1 to %d", got, callers)
	}
}

func TestNewChecksItsArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration
		deps    []readiness.Dependency
	}{
		{"no timeout", 0, []readiness.Dependency{{Name: "redis", Check: pass}}},
		{"no name", time.Second, []readiness.Dependency{{Check: pass}}},
		{"no check", time.Second, []readiness.Dependency{{Name: "redis"}}},
		{"twice", time.Second, []readiness.Dependency{{Name: "redis", Check: pass}, {Name: "redis", Check: pass}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := readiness.New(tt.timeout, tt.deps...); err == nil {
				t.Errorf("New() error = nil, want an error")
			}
		})
	}
}
