package authsessionclient_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/gateway/internal/authsessionclient"
	"galaxy/gateway/internal/gateway"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/apierror"
)

const timeout = 500 * time.Millisecond

func newClient(t *testing.T, addr string) *authsessionclient.Client {
	t.Helper()
	c, err := authsessionclient.New(addr, timeout)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCalls(t *testing.T) {
	t.Parallel()
	fake := gatewaytest.NewAuthSession()
	c := newClient(t, fake.Serve(t))

	ch, err := c.StartEmailLogin(t.Context(), "user@example.com", "192.0.2.1")
	if err != nil {
		t.Fatalf("StartEmailLogin() error = %v", err)
	}
	if want := (gateway.Challenge{ID: "ch-1", ExpiresAt: gatewaytest.ChallengeExpiry}); ch != want {
		t.Errorf("StartEmailLogin() = %+v, want %+v", ch, want)
	}
	if got := fake.ClientID(); got != "192.0.2.1" {
		t.Errorf("client_id = %q, want %q", got, "192.0.2.1")
	}

	login, err := c.ConfirmEmailLogin(t.Context(), "ch-1", "123456", "192.0.2.2")
	if err != nil {
		t.Fatalf("ConfirmEmailLogin() error = %v", err)
	}
	want := gateway.Login{
		AccessToken: "access-token", AccessTokenExpiresAt: gatewaytest.AccessExpiry,
		RefreshToken: "refresh-token", RefreshTokenExpiresAt: gatewaytest.RefreshExpiry,
		SessionID: "sess-1", UserID: "user-1",
	}
	if login != want {
		t.Errorf("ConfirmEmailLogin() = %+v, want %+v", login, want)
	}
	if got := fake.ClientID(); got != "192.0.2.2" {
		t.Errorf("client_id = %q, want %q", got, "192.0.2.2")
	}

	fake.OnRefresh(func(_ context.Context, req *authsessionv1.RefreshSessionRequest) (*authsessionv1.RefreshSessionResponse, error) {
		if req.GetRefreshToken() != gatewaytest.RefreshToken {
			return nil, gatewaytest.Fail(apierror.InvalidRefreshToken, "invalid refresh token", nil)
		}
		return &authsessionv1.RefreshSessionResponse{
			Session: &authsessionv1.Session{SessionId: "sess-1", UserId: "user-1"},
			Tokens: &authsessionv1.TokenPair{
				AccessToken: "access-token-1", AccessTokenExpiresAt: timestamppb.New(gatewaytest.AccessExpiry),
				RefreshToken: "refresh-token-1", RefreshTokenExpiresAt: timestamppb.New(gatewaytest.RefreshExpiry),
			},
		}, nil
	})
	refreshed, err := c.RefreshSession(t.Context(), gatewaytest.RefreshToken, "192.0.2.3")
	if err != nil {
		t.Fatalf("RefreshSession() error = %v", err)
	}
	want = gateway.Login{
		AccessToken: "access-token-1", AccessTokenExpiresAt: gatewaytest.AccessExpiry,
		RefreshToken: "refresh-token-1", RefreshTokenExpiresAt: gatewaytest.RefreshExpiry,
		SessionID: "sess-1", UserID: "user-1",
	}
	if refreshed != want {
		t.Errorf("RefreshSession() = %+v, want %+v", refreshed, want)
	}
	if got := fake.ClientID(); got != "192.0.2.3" {
		t.Errorf("client_id = %q, want %q", got, "192.0.2.3")
	}

	if err := c.Check(t.Context()); err != nil {
		t.Errorf("Check() error = %v", err)
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	older, newer := gatewaytest.ActiveSession("sess-1", "user-1"), gatewaytest.ActiveSession("sess-2", "user-1")
	newer.CreatedAt = older.CreatedAt.Add(time.Second)
	// authsession's answers: the caller's live sessions, newest first; a
	// revocation of a live session of the caller's ends it, any other is
	// SESSION_NOT_FOUND.
	var mu sync.Mutex
	live := []gateway.Session{newer, older, gatewaytest.ActiveSession("sess-3", "user-2")}
	fake := gatewaytest.NewAuthSession()
	fake.OnList(func(_ context.Context, req *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		resp := &authsessionv1.ListSessionsResponse{}
		for _, s := range live {
			if s.UserID == req.GetUserId() {
				resp.Sessions = append(resp.Sessions, &authsessionv1.Session{
					SessionId: s.ID, UserId: s.UserID, Email: s.Email,
					CreatedAt: timestamppb.New(s.CreatedAt.Truncate(time.Second)), ExpiresAt: timestamppb.New(s.ExpiresAt.Truncate(time.Second)),
				})
			}
		}
		return resp, nil
	})
	fake.OnRevoke(func(_ context.Context, req *authsessionv1.RevokeSessionRequest) (*authsessionv1.RevokeSessionResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		for i, s := range live {
			if s.ID == req.GetSessionId() && s.UserID == req.GetUserId() {
				live = slices.Delete(live, i, i+1)
				return &authsessionv1.RevokeSessionResponse{}, nil
			}
		}
		return nil, gatewaytest.Fail(apierror.SessionNotFound, "no such session", nil)
	})
	c := newClient(t, fake.Serve(t))

	got, err := c.ListSessions(t.Context(), "user-1")
	if err != nil {
		t.Fatalf("ListSessions() error = %v", err)
	}
	var want []gateway.SessionInfo
	for _, s := range []gateway.Session{newer, older} {
		want = append(want, gateway.SessionInfo{
			ID: s.ID, CreatedAt: s.CreatedAt.Truncate(time.Second).UTC(), ExpiresAt: s.ExpiresAt.Truncate(time.Second).UTC(),
		})
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListSessions() = %+v, want %+v", got, want)
	}

	if err := c.RevokeSession(t.Context(), "user-2", "sess-1"); !apierror.Is(err, apierror.SessionNotFound) {
		t.Errorf("RevokeSession(another user's session) error = %v, want SESSION_NOT_FOUND", err)
	}
	if err := c.RevokeSession(t.Context(), "user-1", "sess-1"); err != nil {
		t.Errorf("RevokeSession() error = %v", err)
	}
	if err := c.RevokeSession(t.Context(), "user-1", "sess-1"); !apierror.Is(err, apierror.SessionNotFound) {
		t.Errorf("RevokeSession() again: error = %v, want SESSION_NOT_FOUND", err)
	}
	if got, err := c.ListSessions(t.Context(), "user-1"); err != nil || len(got) != 1 || got[0].ID != "sess-2" {
		t.Errorf("ListSessions() after the revocation = %+v, %v; want sess-2 only", got, err)
	}
}

// calls are every authsession call of c, by name.
func calls(t *testing.T, c *authsessionclient.Client) map[string]func() error {
	return map[string]func() error{
		"StartEmailLogin": func() error {
			_, err := c.StartEmailLogin(t.Context(), "user@example.com", "ip")
			return err
		},
		"ConfirmEmailLogin": func() error {
			_, err := c.ConfirmEmailLogin(t.Context(), "ch", "123456", "ip")
			return err
		},
		"RefreshSession": func() error {
			_, err := c.RefreshSession(t.Context(), gatewaytest.RefreshToken, "ip")
			return err
		},
		"RevokeSession": func() error { return c.RevokeSession(t.Context(), "user-1", "sess-1") },
		"ListSessions": func() error {
			_, err := c.ListSessions(t.Context(), "user-1")
			return err
		},
	}
}

// TestErrorsPassThrough checks that authsession's stable codes and metadata
// come back unchanged.
func TestErrorsPassThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		wantCode apierror.Code
		wantDep  string
	}{
		{"invalid argument", gatewaytest.Fail(apierror.InvalidArgument, "malformed email", nil), apierror.InvalidArgument, ""},
		{"invalid code", gatewaytest.Fail(apierror.InvalidCode, "wrong code", nil), apierror.InvalidCode, ""},
		{"challenge not found", gatewaytest.Fail(apierror.ChallengeNotFound, "no challenge", nil), apierror.ChallengeNotFound, ""},
		{"too many attempts", gatewaytest.Fail(apierror.TooManyAttempts, "burned", nil), apierror.TooManyAttempts, ""},
		{"user disabled", gatewaytest.Fail(apierror.UserDisabled, "disabled", nil), apierror.UserDisabled, ""},
		{"mail down", gatewaytest.Fail(apierror.DependencyUnavailable, "mail is unavailable", map[string]string{"dependency": "mail"}), apierror.DependencyUnavailable, "mail"},
		{"user service down", gatewaytest.Fail(apierror.DependencyUnavailable, "user is unavailable", map[string]string{"dependency": "user"}), apierror.DependencyUnavailable, "user"},
		{"invalid refresh token", gatewaytest.Fail(apierror.InvalidRefreshToken, "unknown", nil), apierror.InvalidRefreshToken, ""},
		{"session not found", gatewaytest.Fail(apierror.SessionNotFound, "no such session", nil), apierror.SessionNotFound, ""},
		{"redis down at authsession", gatewaytest.Fail(apierror.DependencyUnavailable, "redis is unavailable", map[string]string{"dependency": "redis"}), apierror.DependencyUnavailable, "redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := gatewaytest.NewAuthSession()
			fake.FailWith(tt.err)
			c := newClient(t, fake.Serve(t))
			for op, call := range calls(t, c) {
				e := apierror.As(call())
				if e.Code != tt.wantCode || e.Metadata["dependency"] != tt.wantDep {
					t.Errorf("%s() error = %v %v, want %s dependency=%q", op, e, e.Metadata, tt.wantCode, tt.wantDep)
				}
			}
		})
	}
}

// TestErrorTextIsNotKept checks that no text of authsession's, which might
// echo a code or token, survives in an error the gateway logs (INTERNAL and
// DEPENDENCY_UNAVAILABLE) nor as the cause of any error, while codes,
// metadata and retry delays still come through and the caller still gets the
// message of the codes it is told about.
func TestErrorTextIsNotKept(t *testing.T) {
	t.Parallel()
	const secret = "refresh-secret-123456"
	tests := []struct {
		name        string
		err         error
		wantCode    apierror.Code
		wantDep     string
		wantMessage string
	}{
		{"internal", gatewaytest.Fail(apierror.Internal, "bug near "+secret, nil), apierror.Internal, "", "internal error"},
		{"internal without ErrorInfo", status.Error(codes.Internal, "bug near "+secret), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"unknown without ErrorInfo", status.Error(codes.Unknown, secret), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"invalid argument without ErrorInfo", status.Error(codes.InvalidArgument, secret), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"unavailable without ErrorInfo", status.Error(codes.Unavailable, "down near "+secret), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"deadline without ErrorInfo", status.Error(codes.DeadlineExceeded, secret), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"mail down", gatewaytest.Fail(apierror.DependencyUnavailable, "mail down near "+secret, map[string]string{"dependency": "mail"}), apierror.DependencyUnavailable, "mail", "mail is unavailable"},
		{"dependency name is no name", gatewaytest.Fail(apierror.DependencyUnavailable, "down", map[string]string{"dependency": "mail " + secret}), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"invalid code keeps its message for the caller", gatewaytest.Fail(apierror.InvalidCode, "wrong code "+secret, nil), apierror.InvalidCode, "", "wrong code " + secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := gatewaytest.NewAuthSession()
			fake.FailWith(tt.err)
			c := newClient(t, fake.Serve(t))
			for op, call := range calls(t, c) {
				err := call()
				e := apierror.As(err)
				if e.Code != tt.wantCode || e.Metadata["dependency"] != tt.wantDep || e.Message != tt.wantMessage {
					t.Errorf("%s() error = %v %v, want %s dependency=%q message %q", op, e, e.Metadata, tt.wantCode, tt.wantDep, tt.wantMessage)
				}
				if cause := errors.Unwrap(e); cause != nil && strings.Contains(cause.Error(), secret) {
					t.Errorf("%s() error cause = %q, holds authsession's text", op, cause)
				}
				if apierror.HTTPStatus(e.Code) >= 500 && strings.Contains(err.Error(), secret) {
					t.Errorf("%s() error = %q, holds authsession's text", op, err)
				}
			}
		})
	}
}

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

func TestCheck(t *testing.T) {
	t.Parallel()
	notServing := gatewaytest.NewAuthSession()
	notServing.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	tests := []struct {
		name    string
		addr    string
		wantErr bool
	}{
		{"serving", gatewaytest.NewAuthSession().Serve(t), false},
		{"not serving", notServing.Serve(t), true},
		{"nothing listening", gatewaytest.DeadAddr(t), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := newClient(t, tt.addr).Check(t.Context())
			if !tt.wantErr {
				if err != nil {
					t.Errorf("Check() error = %v", err)
				}
				return
			}
			if e := apierror.As(err); e.Code != apierror.DependencyUnavailable || e.Metadata["dependency"] != "authsession" {
				t.Errorf("Check() error = %v, want DEPENDENCY_UNAVAILABLE dependency=authsession", err)
			}
		})
	}
}

func TestNewChecksItsInputs(t *testing.T) {
	t.Parallel()
	if _, err := authsessionclient.New("", time.Second); err == nil {
		t.Errorf("New(\"\") error = nil, want an error")
	}
	if _, err := authsessionclient.New("127.0.0.1:1", 0); err == nil {
		t.Errorf("New() with no timeout: error = nil, want an error")
	}
}

// TestReconnectsQuickly checks that once authsession comes up, calls succeed
// again within a couple of seconds, however long it was away.
func TestReconnectsQuickly(t *testing.T) {
	t.Parallel()
	addr := gatewaytest.DeadAddr(t)
	c := newClient(t, addr)
	for range 5 { // let the connection fail and back off several times
		if err := c.Check(t.Context()); err == nil {
			t.Fatalf("Check() with nothing listening: error = nil")
		}
		time.Sleep(100 * time.Millisecond)
	}
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

// TestRateLimitedKeepsRetryAfter checks that authsession's RATE_LIMITED comes
// back with its RetryInfo delay.
func TestRateLimitedKeepsRetryAfter(t *testing.T) {
	t.Parallel()
	fake := gatewaytest.NewAuthSession()
	fake.FailWith(gatewaytest.FailLimited(42 * time.Second))
	c := newClient(t, fake.Serve(t))
	for op, call := range calls(t, c) {
		e := apierror.As(call())
		if e.Code != apierror.RateLimited || e.RetryAfter != 42*time.Second {
			t.Errorf("%s() error = %v retry after %v, want RATE_LIMITED retry after 42s", op, e, e.RetryAfter)
		}
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
