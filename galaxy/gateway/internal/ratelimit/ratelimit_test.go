package ratelimit_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"galaxy/gateway/internal/ratelimit"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLimiter(t *testing.T, perMinute, burst int, opts ...ratelimit.Option) (*ratelimit.Limiter, *clock) {
	t.Helper()
	c := newClock()
	l, err := ratelimit.New(perMinute, burst, append([]ratelimit.Option{ratelimit.WithClock(c.now)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l, c
}

// allowN calls Allow n times and fails unless every call is let through.
func allowN(t *testing.T, l *ratelimit.Limiter, key string, n int) {
	t.Helper()
	for i := range n {
		if ok, d := l.Allow(key); !ok {
			t.Fatalf("call %d of %s: refused (retry after %v), want allowed", i+1, key, d)
		}
	}
}

func wantRefused(t *testing.T, l *ratelimit.Limiter, key string, wantDelay time.Duration) {
	t.Helper()
	ok, d := l.Allow(key)
	if ok {
		t.Fatalf("%s: allowed, want refused", key)
	}
	if d != wantDelay {
		t.Errorf("%s: retry after %v, want %v", key, d, wantDelay)
	}
}

func TestBurstThenRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		perMinute int
		burst     int
		wantDelay time.Duration // once the burst is spent
	}{
		{"defaults", 60, 20, time.Second},
		{"slow", 2, 3, 30 * time.Second},
		{"fast", 600, 1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, c := newLimiter(t, tt.perMinute, tt.burst)
			allowN(t, l, "a", tt.burst)
			wantRefused(t, l, "a", tt.wantDelay)
			// A refused call costs nothing: the wait does not grow.
			wantRefused(t, l, "a", tt.wantDelay)
			c.advance(tt.wantDelay / 2)
			wantRefused(t, l, "a", tt.wantDelay-tt.wantDelay/2)
			c.advance(tt.wantDelay - tt.wantDelay/2)
			allowN(t, l, "a", 1)
			wantRefused(t, l, "a", tt.wantDelay)
		})
	}
}

func TestClientsHaveTheirOwnBuckets(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(t, 60, 2)
	allowN(t, l, "a", 2)
	wantRefused(t, l, "a", time.Second)
	allowN(t, l, "b", 2)
	wantRefused(t, l, "b", time.Second)
}

func TestRefillsUpToTheBurst(t *testing.T) {
	t.Parallel()
	l, c := newLimiter(t, 60, 3)
	allowN(t, l, "a", 3)
	c.advance(time.Hour)
	allowN(t, l, "a", 3)
	wantRefused(t, l, "a", time.Second)
}

// TestForgetsIdleBuckets checks that a bucket unused until it is full again
// is dropped, and that dropping it changes nothing for its client.
func TestForgetsIdleBuckets(t *testing.T) {
	t.Parallel()
	l, c := newLimiter(t, 60, 5) // fills in 5s
	allowN(t, l, "a", 5)
	allowN(t, l, "b", 1)
	if got := l.Clients(); got != 2 {
		t.Fatalf("Clients() = %d, want 2", got)
	}
	c.advance(4 * time.Second)
	allowN(t, l, "c", 1) // a and b are not full yet: kept
	if got := l.Clients(); got != 3 {
		t.Errorf("after 4s: Clients() = %d, want 3", got)
	}
	c.advance(time.Second)
	allowN(t, l, "c", 1) // a and b are full: forgotten
	if got := l.Clients(); got != 1 {
		t.Errorf("after 5s: Clients() = %d, want 1 (c)", got)
	}
	allowN(t, l, "a", 5) // a full bucket, as it would have been
	wantRefused(t, l, "a", time.Second)
}

// TestBoundsItsClients checks that past the bound the least recently seen
// client is forgotten.
func TestBoundsItsClients(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(t, 1, 1, ratelimit.WithMaxClients(3))
	for i := range 3 {
		allowN(t, l, strconv.Itoa(i), 1)
	}
	wantRefused(t, l, "0", time.Minute) // 0 is now the most recently seen
	allowN(t, l, "3", 1)                // forgets 1, the least recently seen
	if got := l.Clients(); got != 3 {
		t.Errorf("Clients() = %d, want 3", got)
	}
	wantRefused(t, l, "0", time.Minute)
	wantRefused(t, l, "2", time.Minute)
	allowN(t, l, "1", 1) // forgotten, so a new full bucket
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(t, 1, 50)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 10 {
		wg.Go(func() {
			for range 20 {
				if ok, _ := l.Allow("a"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Errorf("allowed %d of 200 concurrent calls, want the burst of 50", allowed)
	}
}

func TestNewChecksItsSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		perMinute, burst int
		opts             []ratelimit.Option
	}{
		{"no rate", 0, 1, nil},
		{"negative rate", -1, 1, nil},
		{"no burst", 1, 0, nil},
		{"no clients", 1, 1, []ratelimit.Option{ratelimit.WithMaxClients(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := ratelimit.New(tt.perMinute, tt.burst, tt.opts...); err == nil {
				t.Errorf("New(%d, %d) error = nil, want an error", tt.perMinute, tt.burst)
			}
		})
	}
}
