package grpcapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/authsession/internal/grpcapi"
	"galaxy/platform/apierror"
	"galaxy/platform/grpcserver"
	"galaxy/platform/lifecycle"
	"galaxy/platform/logging"
	"galaxy/platform/logging/logtest"
)

// serve starts svc on 127.0.0.1:0 and returns a connection to it.
func serve(t *testing.T, svc grpcapi.Service, opts ...grpcapi.Option) (*grpc.ClientConn, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	logger, err := logging.New(logs, "authsession", "debug")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := grpcapi.NewServer(svc, logger, opts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := lifecycle.Listen("grpc", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := srv.Lifecycle("grpc", ln)
	done := make(chan error, 1)
	go func() { done <- ls.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ls.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(ls.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, logs
}

// wantStatus fails unless err is a status with code and an ErrorInfo of
// reason in the authsession domain, with the given metadata.
func wantStatus(t *testing.T, err error, code codes.Code, reason string, metadata map[string]string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a gRPC status", err)
	}
	if st.Code() != code {
		t.Errorf("code = %v, want %v (%v)", st.Code(), code, err)
	}
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info == nil {
		t.Fatalf("status %v carries no ErrorInfo", st)
	}
	if info.Reason != reason || info.Domain != grpcapi.Domain {
		t.Errorf("ErrorInfo reason, domain = %q, %q; want %q, %q", info.Reason, info.Domain, reason, grpcapi.Domain)
	}
	if len(info.Metadata) != len(metadata) {
		t.Errorf("ErrorInfo metadata = %v, want %v", info.Metadata, metadata)
	}
	for k, v := range metadata {
		if info.Metadata[k] != v {
			t.Errorf("ErrorInfo metadata[%q] = %q, want %q", k, info.Metadata[k], v)
		}
	}
}

func TestNewServerChecksItsArguments(t *testing.T) {
	t.Parallel()
	if _, err := grpcapi.NewServer(nil, slog.Default()); err == nil {
		t.Error("NewServer(nil service) succeeded")
	}
	if _, err := grpcapi.NewServer(stubService{}, nil); err == nil {
		t.Error("NewServer(nil logger) succeeded")
	}
}

func TestLoginRoundTrip(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	conn, logs := serve(t, env.Service)
	client := authsessionv1.NewAuthSessionServiceClient(conn)
	ctx := context.Background()

	start, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "alice@example.com", ClientId: "198.51.100.1"})
	if err != nil {
		t.Fatalf("StartEmailLogin: %v", err)
	}
	if len(start.GetChallengeId()) != 22 || !start.GetExpiresAt().IsValid() {
		t.Fatalf("StartEmailLogin = %v, want a challenge id and an expiry", start)
	}
	code := env.Mail.CodeFor(t, start.GetChallengeId())

	res, err := client.ConfirmEmailLogin(ctx, &authsessionv1.ConfirmEmailLoginRequest{ChallengeId: start.GetChallengeId(), Code: code, ClientId: "198.51.100.1"})
	if err != nil {
		t.Fatalf("ConfirmEmailLogin: %v", err)
	}
	s, tok := res.GetSession(), res.GetTokens()
	if s.GetUserId() != "user-1" || s.GetEmail() != "alice@example.com" || len(s.GetSessionId()) != 22 {
		t.Errorf("session = %v", s)
	}
	if got := s.GetExpiresAt().AsTime().Sub(s.GetCreatedAt().AsTime()); got != env.Options.SessionTTL {
		t.Errorf("session lasts %v, want %v", got, env.Options.SessionTTL)
	}
	if tok.GetAccessToken() == "" || tok.GetRefreshToken() == "" {
		t.Errorf("tokens = %v, want both", tok)
	}
	if got := tok.GetAccessTokenExpiresAt().AsTime().Sub(s.GetCreatedAt().AsTime()); got != env.Options.AccessTokenTTL {
		t.Errorf("access token lasts %v, want %v", got, env.Options.AccessTokenTTL)
	}
	if !tok.GetRefreshTokenExpiresAt().AsTime().Equal(s.GetExpiresAt().AsTime()) {
		t.Errorf("refresh token expires %v, want the session's %v", tok.GetRefreshTokenExpiresAt().AsTime(), s.GetExpiresAt().AsTime())
	}
	if !env.Redis.Exists(env.Store.SessionKey(s.GetSessionId())) {
		t.Error("no session record in Redis")
	}

	// A retry with the code answers the same session and refresh token; a
	// wrong code on the consumed challenge fails; the log never holds a
	// secret.
	again, err := client.ConfirmEmailLogin(ctx, &authsessionv1.ConfirmEmailLoginRequest{ChallengeId: start.GetChallengeId(), Code: code})
	if err != nil {
		t.Fatalf("ConfirmEmailLogin retry: %v", err)
	}
	if again.GetSession().GetSessionId() != s.GetSessionId() || again.GetTokens().GetRefreshToken() != tok.GetRefreshToken() {
		t.Errorf("retry answered session %q, want the same %q with the same refresh token", again.GetSession().GetSessionId(), s.GetSessionId())
	}
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, code)+1)%1_000_000)
	_, err = client.ConfirmEmailLogin(ctx, &authsessionv1.ConfirmEmailLoginRequest{ChallengeId: start.GetChallengeId(), Code: wrong})
	wantStatus(t, err, codes.NotFound, "CHALLENGE_NOT_FOUND", nil)

	out := logtest.Untraced(logs.String())
	for name, secret := range map[string]string{"code": code, "access token": tok.GetAccessToken(), "refresh token": tok.GetRefreshToken()} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds the %s:\n%s", name, out)
		}
	}
	wantLogLine(t, out, "/galaxy.authsession.v1.AuthSessionService/ConfirmEmailLogin", "NotFound", "CHALLENGE_NOT_FOUND")
	wantLogLine(t, out, "/galaxy.authsession.v1.AuthSessionService/StartEmailLogin", "OK", "")
}

// wantLogLine fails unless out holds a "grpc call" line for method with code
// and reason.
func wantLogLine(t *testing.T, out, method, code, reason string) {
	t.Helper()
	for line := range strings.Lines(out) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "grpc call" {
			continue
		}
		r, _ := rec["error_code"].(string)
		if rec["method"] == method && rec["code"] == code && r == reason {
			if _, ok := rec["duration_ms"].(float64); !ok {
				t.Errorf("log line %s has no duration_ms", line)
			}
			return
		}
	}
	t.Errorf("no log line for %s with code %s and reason %q in:\n%s", method, code, reason, out)
}

func TestErrorStatuses(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeMaxAttempts: 2})
	conn, _ := serve(t, env.Service)
	client := authsessionv1.NewAuthSessionServiceClient(conn)
	ctx := context.Background()

	start, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	id := start.GetChallengeId()
	code := env.Mail.CodeFor(t, id)
	bad := "000000"
	if code == bad {
		bad = "111111"
	}
	confirm := func(id, code string) error {
		_, err := client.ConfirmEmailLogin(ctx, &authsessionv1.ConfirmEmailLoginRequest{ChallengeId: id, Code: code})
		return err
	}

	// In order: they share one challenge.
	steps := []struct {
		name     string
		call     func() error
		code     codes.Code
		reason   string
		metadata map[string]string
	}{
		{"malformed email", func() error {
			_, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "nope"})
			return err
		}, codes.InvalidArgument, "INVALID_ARGUMENT", nil},
		{"malformed code", func() error { return confirm(id, "12") }, codes.InvalidArgument, "INVALID_ARGUMENT", nil},
		{"unknown challenge", func() error { return confirm("AAAAAAAAAAAAAAAAAAAAAA", code) }, codes.NotFound, "CHALLENGE_NOT_FOUND", nil},
		{"wrong code", func() error { return confirm(id, bad) }, codes.InvalidArgument, "INVALID_CODE", nil},
		{"last wrong code", func() error { return confirm(id, bad) }, codes.ResourceExhausted, "TOO_MANY_ATTEMPTS", nil},
		{"burned challenge", func() error { return confirm(id, code) }, codes.NotFound, "CHALLENGE_NOT_FOUND", nil},
		{"mail down", func() error {
			env.Mail.Fail(500)
			_, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "bob@example.com"})
			env.Mail.Fail(202)
			return err
		}, codes.Unavailable, "DEPENDENCY_UNAVAILABLE", map[string]string{"dependency": "mail"}},
		{"disabled user", func() error {
			env.Users.Put(auth.User{ID: "u-off", Email: "off@example.com", Status: auth.UserDisabled})
			s, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "off@example.com"})
			if err != nil {
				return err
			}
			return confirm(s.GetChallengeId(), env.Mail.CodeFor(t, s.GetChallengeId()))
		}, codes.PermissionDenied, "USER_DISABLED", nil},
		{"user service down", func() error {
			s, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "carol@example.com"})
			if err != nil {
				return err
			}
			env.Users.Answer(503, "")
			defer env.Users.Answer(0, "")
			return confirm(s.GetChallengeId(), env.Mail.CodeFor(t, s.GetChallengeId()))
		}, codes.Unavailable, "DEPENDENCY_UNAVAILABLE", map[string]string{"dependency": "user"}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			wantStatus(t, step.call(), step.code, step.reason, step.metadata)
		})
	}
}

func TestOversizedRequestIsRejected(t *testing.T) {
	t.Parallel()
	conn, _ := serve(t, stubService{})
	client := authsessionv1.NewAuthSessionServiceClient(conn)
	_, err := client.StartEmailLogin(context.Background(), &authsessionv1.StartEmailLoginRequest{Email: strings.Repeat("a", grpcserver.MaxRecvMsgSize)})
	if got := status.Code(err); got != codes.ResourceExhausted {
		t.Errorf("code = %v, want ResourceExhausted (%v)", got, err)
	}
}

// stubService answers with fixed errors or panics.
type stubService struct {
	err     error
	panicky bool
}

func (s stubService) StartEmailLogin(context.Context, string, string) (auth.StartResult, error) {
	if s.panicky {
		panic("boom")
	}
	return auth.StartResult{}, s.err
}

func (s stubService) ConfirmEmailLogin(context.Context, string, string, string) (auth.Grant, error) {
	return auth.Grant{}, s.err
}

func (s stubService) RefreshSession(context.Context, string, string) (auth.Grant, error) {
	return auth.Grant{}, s.err
}

func (s stubService) RevokeSession(context.Context, string, string) error { return s.err }

func (s stubService) RevokeAllSessions(context.Context, string) (int, error) { return 0, s.err }

func (s stubService) ListSessions(context.Context, string) ([]auth.Session, error) { return nil, s.err }

func TestUnexpectedFailuresAreInternal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		svc  stubService
	}{
		{"panic", stubService{panicky: true}},
		{"uncoded error", stubService{err: errors.New("secret detail")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, logs := serve(t, tc.svc)
			client := authsessionv1.NewAuthSessionServiceClient(conn)
			for range 2 { // the server survives
				_, err := client.StartEmailLogin(context.Background(), &authsessionv1.StartEmailLoginRequest{Email: "a@example.com"})
				wantStatus(t, err, codes.Internal, "INTERNAL", nil)
				if strings.Contains(err.Error(), "secret detail") || strings.Contains(err.Error(), "boom") {
					t.Errorf("status %v leaks the failure", err)
				}
			}
			wantLogLine(t, logs.String(), "/galaxy.authsession.v1.AuthSessionService/StartEmailLogin", "Internal", "INTERNAL")
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	conn, _ := serve(t, stubService{})
	health := healthpb.NewHealthClient(conn)
	for _, service := range []string{"", "galaxy.authsession.v1.AuthSessionService"} {
		res, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v; want SERVING", service, res, err)
		}
	}
}

// TestHealthFollowsReadiness checks that health reports what the readiness
// check answers, for the whole server and the service alike.
func TestHealthFollowsReadiness(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	ready := func(context.Context) error {
		if down.Load() {
			return apierror.Dependency("redis", errors.New("connection refused"))
		}
		return nil
	}
	conn, _ := serve(t, stubService{}, grpcapi.WithReadiness(ready))
	health := healthpb.NewHealthClient(conn)
	for _, step := range []struct {
		down bool
		want healthpb.HealthCheckResponse_ServingStatus
	}{
		{false, healthpb.HealthCheckResponse_SERVING},
		{true, healthpb.HealthCheckResponse_NOT_SERVING},
		{false, healthpb.HealthCheckResponse_SERVING},
	} {
		down.Store(step.down)
		for _, service := range []string{"", "galaxy.authsession.v1.AuthSessionService"} {
			res, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
			if err != nil || res.GetStatus() != step.want {
				t.Errorf("redis down=%v: Check(%q) = %v, %v; want %s", step.down, service, res, err, step.want)
			}
		}
	}
}

// wantRetryInfo fails unless err's status carries a google.rpc.RetryInfo
// with delay.
func wantRetryInfo(t *testing.T, err error, delay time.Duration) {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			if got := ri.GetRetryDelay().AsDuration(); got != delay {
				t.Errorf("RetryInfo delay = %v, want %v", got, delay)
			}
			return
		}
	}
	t.Errorf("status %v carries no RetryInfo", err)
}

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

func TestCallerDeadlineErrorsKeepTheirMeaning(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"deadline passed", fmt.Errorf("confirm: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{"cancelled", context.Canceled, codes.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, logs := serve(t, stubService{err: tc.err})
			client := authsessionv1.NewAuthSessionServiceClient(conn)
			_, err := client.ConfirmEmailLogin(context.Background(), &authsessionv1.ConfirmEmailLoginRequest{ChallengeId: "c", Code: "123456"})
			if got := status.Code(err); got != tc.want {
				t.Errorf("code = %v, want %v (%v)", got, tc.want, err)
			}
			wantLogLine(t, logs.String(), "/galaxy.authsession.v1.AuthSessionService/ConfirmEmailLogin", tc.want.String(), "")
		})
	}
}

// TestDependencyNamedWithinTheCallersDeadline: over the wire, a mail
// service slower than the caller's deadline is named by authsession before
// the caller gives up, although AUTHSESSION_UPSTREAM_TIMEOUT is longer.
func TestDependencyNamedWithinTheCallersDeadline(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{UpstreamTimeout: 10 * time.Second})
	env.Mail.Delay(5 * time.Second)
	conn, _ := serve(t, env.Service)
	client := authsessionv1.NewAuthSessionServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()

	_, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "alice@example.com"})

	wantStatus(t, err, codes.Unavailable, "DEPENDENCY_UNAVAILABLE", map[string]string{"dependency": "mail"})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
