package grpcapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/authsession/internal/grpcapi"
	"galaxy/platform/grpcserver"
	"galaxy/platform/lifecycle"
	"galaxy/platform/logging"
	"galaxy/platform/logging/logtest"
)

// serve starts svc on 127.0.0.1:0 and returns a connection to it.
func serve(t *testing.T, svc grpcapi.Service) (*grpc.ClientConn, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	logger, err := logging.New(logs, "authsession", "debug")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := grpcapi.NewServer(svc, logger)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := lifecycle.Listen("grpc", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := lifecycle.GRPC("grpc", ln, srv)
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

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
