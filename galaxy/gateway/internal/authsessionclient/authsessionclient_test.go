package authsessionclient_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
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
