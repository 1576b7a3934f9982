package gateway_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"galaxy/gateway/internal/gateway"
	"galaxy/platform/apierror"
)

// limiter is a Limiter that lets limit calls through per key, then refuses.
type limiter struct {
	mu    sync.Mutex
	limit int
	seen  map[string]int
}

func (l *limiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]int{}
	}
	l.seen[key]++
	if l.seen[key] > l.limit {
		return false, 1500 * time.Millisecond
	}
	return true, 0
}

// TestLoginLimit checks that start, confirm and refresh share one limit per
// client address, that refused calls never reach authsession, and that
// malformed calls and the authenticated calls are not counted.
func TestLoginLimit(t *testing.T) {
	t.Parallel()
	st := liveStubs()
	svc := newService(t, st, gateway.WithLoginLimiter(&limiter{limit: 3}))
	ctx := t.Context()
	steps := []struct {
		name     string
		call     func() error
		wantCode apierror.Code
	}{
		{"malformed start is not counted", func() error { _, err := svc.StartEmailLogin(ctx, "", "192.0.2.1"); return err }, apierror.InvalidArgument},
		{"logout is not counted", func() error { return svc.Logout(ctx, "token") }, ""},
		{"start", func() error { _, err := svc.StartEmailLogin(ctx, "a@b.c", "192.0.2.1"); return err }, ""},
		{"confirm", func() error { _, err := svc.ConfirmEmailLogin(ctx, "c", "1", "192.0.2.1"); return err }, ""},
		{"refresh", func() error { _, err := svc.RefreshSession(ctx, "r", "192.0.2.1"); return err }, ""},
		{"start over the limit", func() error { _, err := svc.StartEmailLogin(ctx, "a@b.c", "192.0.2.1"); return err }, apierror.RateLimited},
		{"confirm over the limit", func() error { _, err := svc.ConfirmEmailLogin(ctx, "c", "1", "192.0.2.1"); return err }, apierror.RateLimited},
		{"refresh over the limit", func() error { _, err := svc.RefreshSession(ctx, "r", "192.0.2.1"); return err }, apierror.RateLimited},
		{"another client", func() error { _, err := svc.StartEmailLogin(ctx, "a@b.c", "192.0.2.2"); return err }, ""},
	}
	for _, step := range steps {
		err := step.call()
		if got := apierror.As(err).Code; (step.wantCode == "" && err != nil) || (step.wantCode != "" && got != step.wantCode) {
			t.Errorf("%s: error = %v, want code %q", step.name, err, step.wantCode)
		}
		if step.wantCode == apierror.RateLimited {
			if got := apierror.As(err).RetryAfter; got != 1500*time.Millisecond {
				t.Errorf("%s: RetryAfter = %v, want the limiter's 1.5s", step.name, got)
			}
		}
	}
	want := []string{"revoke u s", "start a@b.c 192.0.2.1", "confirm c 192.0.2.1", "refresh 192.0.2.1", "start a@b.c 192.0.2.2"}
	if !slices.Equal(st.calls, want) {
		t.Errorf("authsession calls = %q, want %q", st.calls, want)
	}
}

// TestClientIDIsTheLimitKey checks that authsession gets as client_id the
// key the gateway limits by, an IPv6 client's /64 network, so that a client
// hopping addresses within its /64 is one client to both limits.
func TestClientIDIsTheLimitKey(t *testing.T) {
	t.Parallel()
	for _, limited := range []bool{false, true} {
		st := liveStubs()
		lim := &limiter{limit: 100}
		var opts []gateway.Option
		if limited {
			opts = append(opts, gateway.WithLoginLimiter(lim))
		}
		svc := newService(t, st, opts...)
		ctx := t.Context()
		for _, addr := range []string{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:ffff::1"} {
			if _, err := svc.StartEmailLogin(ctx, "a@b.c", addr); err != nil {
				t.Fatalf("StartEmailLogin() error = %v", err)
			}
			if _, err := svc.ConfirmEmailLogin(ctx, "c", "1", addr); err != nil {
				t.Fatalf("ConfirmEmailLogin() error = %v", err)
			}
			if _, err := svc.RefreshSession(ctx, "r", addr); err != nil {
				t.Fatalf("RefreshSession() error = %v", err)
			}
		}
		if _, err := svc.StartEmailLogin(ctx, "a@b.c", "::ffff:192.0.2.1"); err != nil {
			t.Fatalf("StartEmailLogin() error = %v", err)
		}
		const net64 = "2001:db8:1:2::/64"
		want := []string{
			"start a@b.c " + net64, "confirm c " + net64, "refresh " + net64,
			"start a@b.c " + net64, "confirm c " + net64, "refresh " + net64,
			"start a@b.c 192.0.2.1",
		}
		if !slices.Equal(st.calls, want) {
			t.Errorf("limited=%t: authsession calls = %q, want %q", limited, st.calls, want)
		}
		if limited {
			if got := lim.seen; len(got) != 2 || got[net64] != 6 || got["192.0.2.1"] != 1 {
				t.Errorf("limiter keys = %v, want 6 calls of %s and 1 of 192.0.2.1", got, net64)
			}
		}
	}
}

func TestLimitKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, clientID, want string
	}{
		{"IPv4", "192.0.2.1", "192.0.2.1"},
		{"IPv4-mapped IPv6", "::ffff:192.0.2.1", "192.0.2.1"},
		{"IPv6 by /64", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"IPv6 neighbour shares it", "2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"IPv6 loopback", "::1", "::/64"},
		{"IPv6 with a zone", "fe80::1%eth0", "fe80::/64"},
		{"not an address", "pipe", "pipe"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := gateway.LimitKey(tt.clientID); got != tt.want {
				t.Errorf("LimitKey(%q) = %q, want %q", tt.clientID, got, tt.want)
			}
		})
	}
}
