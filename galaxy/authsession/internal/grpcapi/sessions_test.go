package grpcapi_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
)

// loginOverGRPC starts and confirms a login for email.
func loginOverGRPC(t *testing.T, env *authtest.Env, client authsessionv1.AuthSessionServiceClient, email string) *authsessionv1.ConfirmEmailLoginResponse {
	t.Helper()
	ctx := context.Background()
	start, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: email})
	if err != nil {
		t.Fatalf("StartEmailLogin: %v", err)
	}
	res, err := client.ConfirmEmailLogin(ctx, &authsessionv1.ConfirmEmailLoginRequest{
		ChallengeId: start.GetChallengeId(), Code: env.Mail.CodeFor(t, start.GetChallengeId()),
	})
	if err != nil {
		t.Fatalf("ConfirmEmailLogin: %v", err)
	}
	return res
}

func TestSessionRoundTrip(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	conn, logs := serve(t, env.Service)
	client := authsessionv1.NewAuthSessionServiceClient(conn)
	ctx := context.Background()

	first := loginOverGRPC(t, env, client, "alice@example.com")
	env.Redis.FastForward(env.Options.Limits.ResendCooldown)
	other := loginOverGRPC(t, env, client, "alice@example.com")
	userID := first.GetSession().GetUserId()

	refreshed, err := client.RefreshSession(ctx, &authsessionv1.RefreshSessionRequest{RefreshToken: first.GetTokens().GetRefreshToken(), ClientId: "198.51.100.1"})
	if err != nil {
		t.Fatalf("RefreshSession: %v", err)
	}
	if refreshed.GetSession().GetSessionId() != first.GetSession().GetSessionId() {
		t.Errorf("refreshed session = %v, want %v", refreshed.GetSession(), first.GetSession())
	}
	tok := refreshed.GetTokens()
	if tok.GetAccessToken() == "" || tok.GetRefreshToken() == "" || tok.GetRefreshToken() == first.GetTokens().GetRefreshToken() {
		t.Errorf("refreshed tokens = %v, want a new pair", tok)
	}
	if !tok.GetRefreshTokenExpiresAt().AsTime().Equal(first.GetSession().GetExpiresAt().AsTime()) {
		t.Errorf("refresh token expires %v, want the session's %v", tok.GetRefreshTokenExpiresAt().AsTime(), first.GetSession().GetExpiresAt().AsTime())
	}

	list, err := client.ListSessions(ctx, &authsessionv1.ListSessionsRequest{UserId: userID})
	if err != nil || len(list.GetSessions()) != 2 {
		t.Fatalf("ListSessions = %v, %v; want 2 sessions", list, err)
	}
	for _, s := range list.GetSessions() {
		if s.GetUserId() != userID || s.GetEmail() != "alice@example.com" || !s.GetCreatedAt().IsValid() || !s.GetExpiresAt().IsValid() {
			t.Errorf("listed session %v", s)
		}
	}

	if _, err := client.RevokeSession(ctx, &authsessionv1.RevokeSessionRequest{UserId: userID, SessionId: other.GetSession().GetSessionId()}); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	all, err := client.RevokeAllSessions(ctx, &authsessionv1.RevokeAllSessionsRequest{UserId: userID})
	if err != nil || all.GetRevokedCount() != 1 {
		t.Errorf("RevokeAllSessions = %v, %v; want revoked_count 1", all, err)
	}
	list, err = client.ListSessions(ctx, &authsessionv1.ListSessionsRequest{UserId: userID})
	if err != nil || len(list.GetSessions()) != 0 {
		t.Errorf("ListSessions after revoking all = %v, %v; want none", list, err)
	}

	out := logs.String()
	for _, secret := range []string{first.GetTokens().GetRefreshToken(), tok.GetRefreshToken(), tok.GetAccessToken()} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds a token:\n%s", out)
		}
	}
	wantLogLine(t, out, "/galaxy.authsession.v1.AuthSessionService/RefreshSession", "OK", "")
}

func TestSessionErrorStatuses(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	conn, logs := serve(t, env.Service)
	client := authsessionv1.NewAuthSessionServiceClient(conn)
	ctx := context.Background()
	res := loginOverGRPC(t, env, client, "alice@example.com")
	refresh := func(token string) error {
		_, err := client.RefreshSession(ctx, &authsessionv1.RefreshSessionRequest{RefreshToken: token})
		return err
	}

	cases := []struct {
		name   string
		call   func() error
		code   codes.Code
		reason string
	}{
		{"resend cooldown", func() error {
			_, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "alice@example.com"})
			return err
		}, codes.ResourceExhausted, "RATE_LIMITED"},
		{"empty refresh token", func() error { return refresh("") }, codes.InvalidArgument, "INVALID_ARGUMENT"},
		{"unknown refresh token", func() error { return refresh("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") }, codes.Unauthenticated, "INVALID_REFRESH_TOKEN"},
		{"another user's session", func() error {
			_, err := client.RevokeSession(ctx, &authsessionv1.RevokeSessionRequest{UserId: "user-2", SessionId: res.GetSession().GetSessionId()})
			return err
		}, codes.NotFound, "SESSION_NOT_FOUND"},
		{"empty user id", func() error {
			_, err := client.ListSessions(ctx, &authsessionv1.ListSessionsRequest{})
			return err
		}, codes.InvalidArgument, "INVALID_ARGUMENT"},
		{"disabled user", func() error {
			env.Users.Put(auth.User{ID: res.GetSession().GetUserId(), Email: "alice@example.com", Status: auth.UserDisabled})
			return refresh(res.GetTokens().GetRefreshToken())
		}, codes.PermissionDenied, "USER_DISABLED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, tc.call(), tc.code, tc.reason, nil)
		})
	}

	// A rate limit says when to retry; the cooldown has 30s left.
	_, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "alice@example.com"})
	wantRetryInfo(t, err, env.Options.Limits.ResendCooldown)
	wantLogLine(t, logs.String(), "/galaxy.authsession.v1.AuthSessionService/StartEmailLogin", "ResourceExhausted", "RATE_LIMITED")
}
