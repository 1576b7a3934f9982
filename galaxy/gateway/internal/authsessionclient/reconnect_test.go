package authsessionclient_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"galaxy/authsession/api/authsessionv1"
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

// TestOutageOutlastingTheReconnectWait checks what an outage longer than
// the wait costs: a call made while the connection is being remade answers
// DEPENDENCY_UNAVAILABLE (authsession) once ReconnectWait has passed since
// the loss, well before its own deadline; a call made after that fails at
// once.
func TestOutageOutlastingTheReconnectWait(t *testing.T) {
	t.Parallel()
	fake := gatewaytest.NewAuthSession()
	addr, stop := fake.Start(t, "127.0.0.1:0")
	const deadline = 5 * time.Second
	c, err := authsessionclient.New(addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.StartEmailLogin(t.Context(), "user@example.com", "192.0.2.1"); err != nil {
		t.Fatalf("StartEmailLogin() before the outage: %v", err)
	}
	unavailable := func(step string) {
		t.Helper()
		_, err := c.StartEmailLogin(t.Context(), "user@example.com", "192.0.2.1")
		if e := apierror.As(err); e.Code != apierror.DependencyUnavailable || e.Metadata["dependency"] != "authsession" {
			t.Errorf("%s: StartEmailLogin() = %v %v, want DEPENDENCY_UNAVAILABLE authsession", step, e, e.Metadata)
		}
	}

	stop()
	lost := time.Now()
	seeLoss(t, c)
	unavailable("while the connection is being remade")
	if took := time.Since(lost); took < authsessionclient.ReconnectWait-100*time.Millisecond || took > authsessionclient.ReconnectWait+time.Second {
		t.Errorf("a call made while the connection was being remade answered %v after the loss, want about the %v wait (its deadline: %v)",
			took, authsessionclient.ReconnectWait, deadline)
	}
	started := time.Now()
	unavailable("after the wait")
	if took := time.Since(started); took > 500*time.Millisecond {
		t.Errorf("a call made after the wait answered after %v, want at once", took)
	}
}

// TestACallCutInFlightIsNotSentAgain checks that waiting for a new
// connection never sends a call twice: a call authsession had received
// when its process died fails, though a new process serves at once on the
// same address, and that process never sees it.
func TestACallCutInFlightIsNotSentAgain(t *testing.T) {
	t.Parallel()
	fake := gatewaytest.NewAuthSession()
	received := make(chan struct{}, 1)
	fake.OnStart(func(ctx context.Context, _ *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
		received <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	addr, kill := fake.Start(t, "127.0.0.1:0")
	c, err := authsessionclient.New(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	result := make(chan error, 1)
	go func() {
		_, err := c.StartEmailLogin(t.Context(), "user@example.com", "192.0.2.1")
		result <- err
	}()
	testwait.Receive(t, received, 5*time.Second, "the call reaching authsession")
	kill()
	fake.StartGraceful(t, addr)
	err = testwait.Receive(t, result, 10*time.Second, "the call's answer")
	if e := apierror.As(err); e.Code != apierror.DependencyUnavailable || e.Metadata["dependency"] != "authsession" {
		t.Errorf("StartEmailLogin() cut in flight = %v %v, want DEPENDENCY_UNAVAILABLE authsession", e, e.Metadata)
	}
	if calls := fake.Calls(); len(calls) != 1 {
		t.Errorf("authsession saw %v, want the one call once", calls)
	}
}
