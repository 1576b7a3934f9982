package authsessionclient_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/apierror"
)

// TestUnavailable checks that an unreachable, slow or incoherent authsession
// is DEPENDENCY_UNAVAILABLE (authsession) within the call deadline.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	slow := func() string {
		fake := gatewaytest.NewAuthSession()
		fake.Hang()
		return fake.Serve(t)
	}
	incomplete := func() string {
		fake := gatewaytest.NewAuthSession()
		fake.OnStart(func(context.Context, *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
			return &authsessionv1.StartEmailLoginResponse{ChallengeId: "ch"}, nil
		})
		fake.OnConfirm(func(context.Context, *authsessionv1.ConfirmEmailLoginRequest) (*authsessionv1.ConfirmEmailLoginResponse, error) {
			return &authsessionv1.ConfirmEmailLoginResponse{}, nil
		})
		fake.OnRefresh(func(context.Context, *authsessionv1.RefreshSessionRequest) (*authsessionv1.RefreshSessionResponse, error) {
			return &authsessionv1.RefreshSessionResponse{Session: &authsessionv1.Session{SessionId: "s", UserId: "u"}}, nil
		})
		fake.OnRevoke(func(context.Context, *authsessionv1.RevokeSessionRequest) (*authsessionv1.RevokeSessionResponse, error) {
			return nil, status.Error(codes.Unavailable, "connection reset")
		})
		fake.OnList(func(context.Context, *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error) {
			return &authsessionv1.ListSessionsResponse{Sessions: []*authsessionv1.Session{{SessionId: "s"}}}, nil
		})
		return fake.Serve(t)
	}
	otherUser := func() string {
		fake := gatewaytest.NewAuthSession()
		fake.FailWith(status.Error(codes.DeadlineExceeded, "deadline"))
		fake.OnList(func(context.Context, *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error) {
			ts := timestamppb.Now()
			return &authsessionv1.ListSessionsResponse{Sessions: []*authsessionv1.Session{
				{SessionId: "s", UserId: "someone-else", CreatedAt: ts, ExpiresAt: ts},
			}}, nil
		})
		return fake.Serve(t)
	}
	tests := []struct {
		name string
		addr string
	}{
		{"nothing listening", gatewaytest.DeadAddr(t)},
		{"never answers", slow()},
		{"incomplete answers", incomplete()},
		{"another user's sessions listed", otherUser()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, tt.addr)
			for op, call := range calls(t, c) {
				start := time.Now()
				e := apierror.As(call())
				if elapsed := time.Since(start); elapsed > timeout+time.Second {
					t.Errorf("%s() took %v, want at most the %v deadline", op, elapsed, timeout)
				}
				if e.Code != apierror.DependencyUnavailable || e.Metadata["dependency"] != "authsession" {
					t.Errorf("%s() error = %v %v, want DEPENDENCY_UNAVAILABLE dependency=authsession", op, e, e.Metadata)
				}
			}
		})
	}
}

// TestReconnectsQuickly checks that once authsession comes up, calls succeed
// again within a couple of seconds, however long it was away.
func TestReconnectsQuickly(t *testing.T) {
	t.Parallel()
	addr, free := gatewaytest.DeadAddrUntilFreed(t)
	c := newClient(t, addr)
	for range 5 { // let the connection fail and back off several times
		if err := c.Check(t.Context()); err == nil {
			t.Fatalf("Check() with nothing listening: error = nil")
		}
		time.Sleep(100 * time.Millisecond)
	}
	free()
	gatewaytest.NewAuthSession().ServeAt(t, addr)
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := c.Check(t.Context())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Check() still failing 3s after authsession came up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOutagesAreDependencyUnavailable checks every way authsession or the
// link to it can fail below its contract: each call, and the health check,
// is DEPENDENCY_UNAVAILABLE (authsession) within the deadline, never
// INTERNAL.
func TestOutagesAreDependencyUnavailable(t *testing.T) {
	t.Parallel()
	failing := func(err error) func(testing.TB) string {
		return func(t testing.TB) string {
			fake := gatewaytest.NewAuthSession()
			fake.FailWith(err)
			fake.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
			return fake.Serve(t)
		}
	}
	fault := func(f gatewaytest.HTTP2Fault) func(testing.TB) string {
		return func(t testing.TB) string { return gatewaytest.HTTP2FaultAddr(t, f) }
	}
	tests := []struct {
		name string
		addr func(testing.TB) string
	}{
		{"bare UNAVAILABLE", failing(status.Error(codes.Unavailable, "connection closed"))},
		{"bare DEADLINE_EXCEEDED", failing(status.Error(codes.DeadlineExceeded, "deadline exceeded"))},
		{"bare CANCELED", failing(status.Error(codes.Canceled, "context canceled"))},
		{"UNKNOWN with transport text", failing(status.Error(codes.Unknown, "transport: connection reset by peer"))},
		{"connection refused", gatewaytest.DeadAddr},
		{"connection reset on accept", gatewaytest.ResettingAddr},
		{"never answers", gatewaytest.SilentAddr},
		{"RST_STREAM", fault(gatewaytest.RSTStream)},
		{"GOAWAY mid-call", fault(gatewaytest.GoAway)},
		{"proxy answers 500", fault(gatewaytest.ProxyError)},
		{"connection reset after the request", fault(gatewaytest.ResetAfterRequest)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, tt.addr(t))
			ops := calls(t, c)
			ops["Check"] = func() error { return c.Check(t.Context()) }
			for op, call := range ops {
				start := time.Now()
				e := apierror.As(call())
				if elapsed := time.Since(start); elapsed > timeout+2*time.Second {
					t.Errorf("%s() took %v, want about the %v deadline", op, elapsed, timeout)
				}
				if e.Code != apierror.DependencyUnavailable || e.Metadata["dependency"] != "authsession" {
					t.Errorf("%s() error = %v %v, want DEPENDENCY_UNAVAILABLE dependency=authsession", op, e, e.Metadata)
				}
			}
		})
	}
}

// TestCallerGivingUpIsDependencyUnavailable checks that a call whose caller
// went away (its context cancelled) is no INTERNAL error either.
func TestCallerGivingUpIsDependencyUnavailable(t *testing.T) {
	t.Parallel()
	fake := gatewaytest.NewAuthSession()
	fake.Hang()
	c := newClient(t, fake.Serve(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.StartEmailLogin(ctx, "user@example.com", "ip")
	if e := apierror.As(err); e.Code != apierror.DependencyUnavailable || e.Metadata["dependency"] != "authsession" {
		t.Errorf("StartEmailLogin(cancelled) error = %v %v, want DEPENDENCY_UNAVAILABLE dependency=authsession", e, e.Metadata)
	}
}
