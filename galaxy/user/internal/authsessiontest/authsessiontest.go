// Package authsessiontest is an in-process fake of authsession's gRPC API
// for the user service's tests: RevokeAllSessions fails as often as told
// (as authsession does when its Redis is away), then acknowledges, and
// every call is recorded; the fake can be down (its address refusing
// connections) and come up again on the same address.
package authsessiontest

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/platform/apierror"
)

// Call is one RevokeAllSessions the fake received.
type Call struct {
	UserID      string
	Traceparent string // "" when none was sent
	Acked       bool   // answered with success
}

// Fake is a fake authsession.
type Fake struct {
	authsessionv1.UnimplementedAuthSessionServiceServer

	t    testing.TB
	addr string

	mu       sync.Mutex
	srv      *grpc.Server
	failures int
	delay    time.Duration
	sessions map[string]int
	calls    []Call
}

// Start returns a fake serving on a loopback port until the test ends; its
// first failures calls fail.
func Start(t testing.TB, failures int) *Fake {
	t.Helper()
	f := Down(t)
	f.FailNext(failures)
	f.Up()
	return f
}

// Down returns a fake that is not serving yet: its address refuses
// connections until Up.
func Down(t testing.TB) *Fake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := &Fake{t: t, addr: addr, sessions: map[string]int{}}
	t.Cleanup(f.Stop)
	return f
}

// Addr is the fake's address, host:port.
func (f *Fake) Addr() string { return f.addr }

// Up serves on the fake's address.
func (f *Fake) Up() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may take a moment to be free again
		if ln, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatalf("fake authsession: listen again on %s: %v", f.addr, err)
	}
	f.srv = grpc.NewServer()
	authsessionv1.RegisterAuthSessionServiceServer(f.srv, f)
	go f.srv.Serve(ln)
}

// Stop stops serving: connections are closed and the address refuses new
// ones.
func (f *Fake) Stop() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// FailNext makes the next n calls fail with UNAVAILABLE
// DEPENDENCY_UNAVAILABLE (redis), as authsession answers when its Redis
// is away.
func (f *Fake) FailNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = n
}

// Delay makes each call wait d (or until its deadline) before answering.
func (f *Fake) Delay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// SetSessions sets how many sessions of userID the next acknowledged call
// reports as revoked.
func (f *Fake) SetSessions(userID string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions[userID] = n
}

// Calls returns every call received, in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// WaitAcked waits up to within for an acknowledged call for userID.
func (f *Fake) WaitAcked(userID string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		for _, c := range f.Calls() {
			if c.UserID == userID && c.Acked {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RevokeAllSessions implements authsessionv1.AuthSessionServiceServer.
func (f *Fake) RevokeAllSessions(ctx context.Context, req *authsessionv1.RevokeAllSessionsRequest) (*authsessionv1.RevokeAllSessionsResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	call := Call{UserID: req.GetUserId(), Traceparent: strings.Join(md.Get("traceparent"), ",")}
	if f.failures > 0 {
		f.failures--
		f.calls = append(f.calls, call)
		return nil, apierror.GRPCStatus(apierror.Dependency("redis", nil), "authsession.galaxy").Err()
	}
	call.Acked = true
	f.calls = append(f.calls, call)
	n := f.sessions[req.GetUserId()]
	f.sessions[req.GetUserId()] = 0
	return &authsessionv1.RevokeAllSessionsResponse{RevokedCount: int32(n)}, nil
}
