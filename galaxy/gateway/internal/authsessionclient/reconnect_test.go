package authsessionclient_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"galaxy/gateway/internal/authsessionclient"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/apierror"
	"galaxy/platform/testwait"
)

// seeLoss waits until c has seen that authsession went away: its health
// check finds a new connection refused. (A call that reached the old
// connection as it closed may have been processed: it fails, and is not
// sent again.)
func seeLoss(t *testing.T, c *authsessionclient.Client) {
	t.Helper()
	if err := testwait.Until(5*time.Second, func() error {
		if err := c.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "connection refused") {
			return fmt.Errorf("health check = %v, want a refused connection", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRestartIsInvisible restarts authsession the way a deployment does,
// three times: the process stops (SIGTERM: it drains, then closes its
// connections) and a new one binds the same address a moment later. Calls
// made across each gap, once the gateway has seen the old process go, all
// succeed: each waits for the new connection within its deadline instead
// of failing while the channel backs off.
func TestRestartIsInvisible(t *testing.T) {
	t.Parallel()
	const gaps = 3
	// The longest gap leaves room, within ReconnectWait, for the backoff's
	// attempt after it (about 1.1 s in, jitter included).
	for _, gap := range []time.Duration{50 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond} {
		t.Run(gap.String(), func(t *testing.T) {
			t.Parallel()
			fake := gatewaytest.NewAuthSession()
			addr, stop := fake.StartGraceful(t, "127.0.0.1:0")
			c, err := authsessionclient.New(addr, 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if _, err := c.StartEmailLogin(t.Context(), "user@example.com", "192.0.2.1"); err != nil {
				t.Fatalf("StartEmailLogin() before any restart: %v", err)
			}
			for restart := range gaps {
				stop() // the process stops
				seeLoss(t, c)
				calls := make(chan error, 8)
				for range cap(calls) { // made across the gap, each its own client call
					go func() {
						_, err := c.StartEmailLogin(t.Context(), "user@example.com", "192.0.2.1")
						calls <- err
					}()
					time.Sleep(gap / time.Duration(cap(calls)))
				}
				_, stop = fake.StartGraceful(t, addr) // the new process binds the same address
				for range cap(calls) {
					if err := <-calls; err != nil {
						e := apierror.As(err)
						t.Errorf("restart %d, %v gap: a call failed: %v %v", restart+1, gap, e, e.Metadata)
					}
				}
			}
		})
	}
}
