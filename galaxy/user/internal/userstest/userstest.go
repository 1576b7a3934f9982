// Package userstest wires the user service's domain for tests: the real
// Service, Deliverer, Redis store and authsession client, on miniredis
// and an in-process fake authsession (authsessiontest).
package userstest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"galaxy/platform/logging"
	"galaxy/platform/logging/logtest"
	"galaxy/platform/redisconn"
	"galaxy/user/internal/authsessionclient"
	"galaxy/user/internal/authsessiontest"
	"galaxy/user/internal/redisstore"
	"galaxy/user/internal/users"
)

// Options tune an Env.
type Options struct {
	Failures int           // the fake authsession's first calls that fail
	Down     bool          // the fake authsession is not serving
	Wait     time.Duration // the revocation wait (default 2s)
	RetryMin time.Duration // default 5ms
	RetryMax time.Duration // default 50ms
}

// Prefix is the Env's Redis key prefix, the service's default.
const Prefix = "galaxy-user:"

// Env is a user service domain on miniredis, delivering to a fake
// authsession through the real gRPC client. Its Deliverer is not running
// until Run.
type Env struct {
	Store     *redisstore.Store
	Redis     *miniredis.Miniredis
	Auth      *authsessiontest.Fake
	Revoker   *authsessionclient.Client
	Logs      *logtest.Buffer
	Logger    *slog.Logger
	Options   Options
	Deliverer *users.Deliverer
	Service   *users.Service
}

// New returns an Env whose resources are released when t ends.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	if opts.Wait == 0 {
		opts.Wait = 2 * time.Second
	}
	if opts.RetryMin == 0 {
		opts.RetryMin = 5 * time.Millisecond
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = 50 * time.Millisecond
	}
	mr := miniredis.RunT(t)
	rdb, err := redisstore.NewClient("redis://"+mr.Addr()+"/0", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	store, err := redisstore.New(rdb, Prefix)
	if err != nil {
		t.Fatal(err)
	}
	var fake *authsessiontest.Fake
	if opts.Down {
		fake = authsessiontest.Down(t)
	} else {
		fake = authsessiontest.Start(t, opts.Failures)
	}
	revoker, err := authsessionclient.New(fake.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { revoker.Close() })
	logs := &logtest.Buffer{}
	logger, err := logging.New(logs, "user", "debug")
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Store: store, Redis: mr, Auth: fake, Revoker: revoker, Logs: logs, Logger: logger, Options: opts}
	e.Deliverer = e.NewDeliverer(t)
	e.Service, err = users.NewService(users.Options{Store: store, Deliveries: e.Deliverer, RevocationWait: opts.Wait})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// NewDeliverer returns another deliverer of the Env's outbox (as a
// restarted service has), not running.
func (e *Env) NewDeliverer(t testing.TB) *users.Deliverer {
	t.Helper()
	d, err := users.NewDeliverer(users.DeliveryOptions{
		Store: e.Store, Revoker: e.Revoker, Logger: e.Logger,
		CallTimeout: time.Second, RetryMin: e.Options.RetryMin, RetryMax: e.Options.RetryMax,
		Poll: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Run runs d until the returned stop is called or the test ends; stop
// returns once d.Run has.
func Run(t testing.TB, d *users.Deliverer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the deliverer did not stop within 10s")
		}
	}
	t.Cleanup(stop)
	return stop
}

// Resolve resolves email and fails the test on error.
func (e *Env) Resolve(t testing.TB, email string) users.User {
	t.Helper()
	u, _, err := e.Service.Resolve(context.Background(), email)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", email, err)
	}
	return u
}

// User reads user id from the store.
func (e *Env) User(t testing.TB, id string) users.User {
	t.Helper()
	u, err := e.Store.User(context.Background(), id)
	if err != nil {
		t.Fatalf("User(%s): %v", id, err)
	}
	return u
}

// Eventually polls cond every 5ms until it holds, and fails the test when
// within has passed first.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// QuietLibraries routes gRPC's and go-redis's process-wide loggers to
// nowhere. Call it from TestMain, before any test starts, so that no
// test's client races with the write that installs the route.
func QuietLibraries() {
	discard := slog.New(slog.DiscardHandler)
	logging.RouteGRPC(discard)
	redisconn.RouteLogs(discard)
}
