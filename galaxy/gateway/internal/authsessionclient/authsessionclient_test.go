package authsessionclient_test

import (
	"context"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

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

	if err := c.Check(t.Context()); err != nil {
		t.Errorf("Check() error = %v", err)
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := gatewaytest.NewAuthSession()
			fake.FailWith(tt.err)
			c := newClient(t, fake.Serve(t))
			for op, call := range map[string]func() error{
				"StartEmailLogin": func() error {
					_, err := c.StartEmailLogin(t.Context(), "user@example.com", "ip")
					return err
				},
				"ConfirmEmailLogin": func() error {
					_, err := c.ConfirmEmailLogin(t.Context(), "ch", "123456", "ip")
					return err
				},
			} {
				e := apierror.As(call())
				if e.Code != tt.wantCode || e.Metadata["dependency"] != tt.wantDep {
					t.Errorf("%s() error = %v %v, want %s dependency=%q", op, e, e.Metadata, tt.wantCode, tt.wantDep)
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
		fake.OnStart(func(ctx context.Context, _ *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		fake.OnConfirm(func(ctx context.Context, _ *authsessionv1.ConfirmEmailLoginRequest) (*authsessionv1.ConfirmEmailLoginResponse, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
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
		return fake.Serve(t)
	}
	tests := []struct {
		name string
		addr string
	}{
		{"nothing listening", gatewaytest.DeadAddr(t)},
		{"never answers", slow()},
		{"incomplete answers", incomplete()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, tt.addr)
			for op, call := range map[string]func() error{
				"StartEmailLogin": func() error {
					_, err := c.StartEmailLogin(t.Context(), "user@example.com", "ip")
					return err
				},
				"ConfirmEmailLogin": func() error {
					_, err := c.ConfirmEmailLogin(t.Context(), "ch", "123456", "ip")
					return err
				},
			} {
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
