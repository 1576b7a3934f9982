package redisstore_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/redisstore"
	"galaxy/platform/apierror"
)

// silentRedis accepts connections and never answers.
func silentRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
		}
	}()
	return ln.Addr().String()
}

// TestHangingRedisIsNamedBeforeTheCallersDeadline: a Redis that does not
// answer is reported as DEPENDENCY_UNAVAILABLE (redis) while the caller
// still waits, although the client's own timeouts are longer.
func TestHangingRedisIsNamedBeforeTheCallersDeadline(t *testing.T) {
	t.Parallel()
	rdb, err := redisstore.NewClient("redis://" + silentRedis(t) + "/0?read_timeout=10s&write_timeout=10s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	s, err := redisstore.New(rdb, "p:")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call func(context.Context) error
	}{
		{"read", func(ctx context.Context) error { _, err := s.Session(ctx, "s"); return err }},
		{"transaction", func(ctx context.Context) error { _, err := s.ReserveAttempt(ctx, "c", 5); return err }},
		{"pipeline", func(ctx context.Context) error { _, err := s.UserSessions(ctx, "u"); return err }},
		{"write", func(ctx context.Context) error {
			return s.RevokeSession(ctx, "s", "", auth.ReasonLogout)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			err := tc.call(ctx)
			if !apierror.Is(err, apierror.DependencyUnavailable) || apierror.As(err).Metadata["dependency"] != "redis" {
				t.Errorf("error = %v, want DEPENDENCY_UNAVAILABLE for redis", err)
			}
			if ctx.Err() != nil {
				t.Error("answered after the caller's deadline, want before it")
			}
		})
	}
}

func TestShortDeadlineOnAFreshConnection(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, "p:") // no connection is open yet
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := s.Session(ctx, "s")
	if !apierror.Is(err, apierror.SessionNotFound) {
		t.Errorf("Session() = %v, want SESSION_NOT_FOUND (the handshake shares the command's budget)", err)
	}
}

func TestNoTimeLeftSendsNothing(t *testing.T) {
	t.Parallel()
	s, mr := newStore(t, "p:")
	cases := []struct {
		name     string
		deadline time.Duration
	}{
		{"deadline passed", -time.Second},
		{"less than the answer's margin left", 20 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
			defer cancel()
			before := mr.CommandCount()
			err := s.CreateChallenge(ctx, auth.Challenge{ID: "c", Email: "a@example.com", CodeHash: "h"}, time.Now().Add(time.Minute))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("CreateChallenge() = %v, want context.DeadlineExceeded (not a failure of Redis)", err)
			}
			if got := mr.CommandCount() - before; got != 0 {
				t.Errorf("%d commands reached Redis, want none", got)
			}
		})
	}
}
