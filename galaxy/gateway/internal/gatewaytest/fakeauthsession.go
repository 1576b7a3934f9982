package gatewaytest

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/platform/apierror"
)

// StartFunc answers StartEmailLogin.
type StartFunc func(context.Context, *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error)

// ConfirmFunc answers ConfirmEmailLogin.
type ConfirmFunc func(context.Context, *authsessionv1.ConfirmEmailLoginRequest) (*authsessionv1.ConfirmEmailLoginResponse, error)

// RefreshFunc answers RefreshSession.
type RefreshFunc func(context.Context, *authsessionv1.RefreshSessionRequest) (*authsessionv1.RefreshSessionResponse, error)

// RevokeFunc answers RevokeSession.
type RevokeFunc func(context.Context, *authsessionv1.RevokeSessionRequest) (*authsessionv1.RevokeSessionResponse, error)

// ListFunc answers ListSessions.
type ListFunc func(context.Context, *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error)

// AuthSession is a fake Auth/Session Service that keeps no state of
// authsession's: it answers what it is told to and records the calls. By
// default StartEmailLogin and ConfirmEmailLogin succeed with fixed answers
// (the login of session "sess-1" of user "user-1", refresh token
// RefreshToken); RefreshSession, RevokeSession and ListSessions answer
// UNIMPLEMENTED until a test sets their answers.
//
// The On* methods replace one answer, FailWith and Hang every one. It records
// the last client_id, the methods called and the traceparent metadata of
// each call.
type AuthSession struct {
	authsessionv1.UnimplementedAuthSessionServiceServer

	// Health is its grpc.health.v1 service, SERVING by default.
	Health *health.Server

	mu           sync.Mutex
	answers      answers
	clientID     string
	calls        []string
	traceparents []string // of each call, as received ("" for none)
}

// answers are the functions answering each call.
type answers struct {
	start   StartFunc
	confirm ConfirmFunc
	refresh RefreshFunc
	revoke  RevokeFunc
	list    ListFunc
}

// RefreshToken is the refresh token of the fake's default login.
const RefreshToken = "refresh-token"

// Times of the fake's default answers.
var (
	ChallengeExpiry = time.Date(2030, 1, 1, 0, 10, 0, 0, time.UTC)
	AccessExpiry    = time.Date(2030, 1, 1, 0, 15, 0, 0, time.UTC)
	RefreshExpiry   = time.Date(2030, 1, 31, 0, 0, 0, 0, time.UTC)
)

// NewAuthSession returns a fake with the default answers.
func NewAuthSession() *AuthSession {
	f := &AuthSession{Health: health.NewServer()}
	f.answers.start = func(context.Context, *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
		return &authsessionv1.StartEmailLoginResponse{ChallengeId: "ch-1", ExpiresAt: timestamppb.New(ChallengeExpiry)}, nil
	}
	f.answers.confirm = func(context.Context, *authsessionv1.ConfirmEmailLoginRequest) (*authsessionv1.ConfirmEmailLoginResponse, error) {
		return &authsessionv1.ConfirmEmailLoginResponse{Session: defaultSession(), Tokens: tokens("access-token", RefreshToken)}, nil
	}
	f.answers.refresh = f.UnimplementedAuthSessionServiceServer.RefreshSession
	f.answers.revoke = f.UnimplementedAuthSessionServiceServer.RevokeSession
	f.answers.list = f.UnimplementedAuthSessionServiceServer.ListSessions
	return f
}

func defaultSession() *authsessionv1.Session {
	return &authsessionv1.Session{SessionId: "sess-1", UserId: "user-1", Email: "user-1@example.com"}
}

func tokens(access, refresh string) *authsessionv1.TokenPair {
	return &authsessionv1.TokenPair{
		AccessToken: access, AccessTokenExpiresAt: timestamppb.New(AccessExpiry),
		RefreshToken: refresh, RefreshTokenExpiresAt: timestamppb.New(RefreshExpiry),
	}
}

// called records a call and returns the answer functions.
func (f *AuthSession) called(ctx context.Context, method, clientID string) answers {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method)
	f.traceparents = append(f.traceparents, strings.Join(metadata.ValueFromIncomingContext(ctx, "traceparent"), ", "))
	if clientID != "" {
		f.clientID = clientID
	}
	return f.answers
}

// StartEmailLogin implements authsessionv1.AuthSessionServiceServer.
func (f *AuthSession) StartEmailLogin(ctx context.Context, req *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
	return f.called(ctx, "StartEmailLogin", req.GetClientId()).start(ctx, req)
}

// ConfirmEmailLogin implements authsessionv1.AuthSessionServiceServer.
func (f *AuthSession) ConfirmEmailLogin(ctx context.Context, req *authsessionv1.ConfirmEmailLoginRequest) (*authsessionv1.ConfirmEmailLoginResponse, error) {
	return f.called(ctx, "ConfirmEmailLogin", req.GetClientId()).confirm(ctx, req)
}

// RefreshSession implements authsessionv1.AuthSessionServiceServer.
func (f *AuthSession) RefreshSession(ctx context.Context, req *authsessionv1.RefreshSessionRequest) (*authsessionv1.RefreshSessionResponse, error) {
	return f.called(ctx, "RefreshSession", req.GetClientId()).refresh(ctx, req)
}

// RevokeSession implements authsessionv1.AuthSessionServiceServer.
func (f *AuthSession) RevokeSession(ctx context.Context, req *authsessionv1.RevokeSessionRequest) (*authsessionv1.RevokeSessionResponse, error) {
	return f.called(ctx, "RevokeSession", "").revoke(ctx, req)
}

// ListSessions implements authsessionv1.AuthSessionServiceServer.
func (f *AuthSession) ListSessions(ctx context.Context, req *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error) {
	return f.called(ctx, "ListSessions", "").list(ctx, req)
}

// OnStart makes fn answer StartEmailLogin.
func (f *AuthSession) OnStart(fn StartFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers.start = fn
}

// OnConfirm makes fn answer ConfirmEmailLogin.
func (f *AuthSession) OnConfirm(fn ConfirmFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers.confirm = fn
}

// OnRefresh makes fn answer RefreshSession.
func (f *AuthSession) OnRefresh(fn RefreshFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers.refresh = fn
}

// OnRevoke makes fn answer RevokeSession.
func (f *AuthSession) OnRevoke(fn RevokeFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers.revoke = fn
}

// OnList makes fn answer ListSessions.
func (f *AuthSession) OnList(fn ListFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers.list = fn
}

// FailWith makes every call fail with err.
func (f *AuthSession) FailWith(err error) {
	f.answerAll(func(context.Context) error { return err })
}

// Hang makes every call wait until its caller gives up.
func (f *AuthSession) Hang() {
	f.answerAll(func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
}

// answerAll makes fail answer every call.
func (f *AuthSession) answerAll(fail func(context.Context) error) {
	f.OnStart(func(ctx context.Context, _ *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
		return nil, fail(ctx)
	})
	f.OnConfirm(func(ctx context.Context, _ *authsessionv1.ConfirmEmailLoginRequest) (*authsessionv1.ConfirmEmailLoginResponse, error) {
		return nil, fail(ctx)
	})
	f.OnRefresh(func(ctx context.Context, _ *authsessionv1.RefreshSessionRequest) (*authsessionv1.RefreshSessionResponse, error) {
		return nil, fail(ctx)
	})
	f.OnRevoke(func(ctx context.Context, _ *authsessionv1.RevokeSessionRequest) (*authsessionv1.RevokeSessionResponse, error) {
		return nil, fail(ctx)
	})
	f.OnList(func(ctx context.Context, _ *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error) {
		return nil, fail(ctx)
	})
}

// ClientID is the client_id of the last call that carries one.
func (f *AuthSession) ClientID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clientID
}

// Calls lists the methods called so far, in order.
func (f *AuthSession) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Traceparents returns the traceparent metadata of each call of the
// service, in order: "" for a call without one, the values joined by ", "
// for a call with several.
func (f *AuthSession) Traceparents() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.traceparents)
}

// Serve serves f on a loopback port until the test ends and returns its address.
func (f *AuthSession) Serve(tb testing.TB) string {
	tb.Helper()
	return f.ServeAt(tb, "127.0.0.1:0")
}

// ServeAt serves f on addr until the test ends and returns its address.
func (f *AuthSession) ServeAt(tb testing.TB, addr string) string {
	tb.Helper()
	addr, _ = f.Start(tb, addr)
	return addr
}

// Start serves f on addr and returns its address and a stop function that
// ends the server at once, dropping its connections as a killed process
// would. The server also stops when the test ends.
func (f *AuthSession) Start(tb testing.TB, addr string) (string, func()) {
	tb.Helper()
	srv := f.start(tb, &addr)
	return addr, srv.Stop
}

// StartGraceful is Start with a stop function that stops the server as a
// process stopped by SIGTERM does: at once it takes no new connection and
// tells every connection to take no new call (GOAWAY), then it lets the
// calls in flight end and closes.
func (f *AuthSession) StartGraceful(tb testing.TB, addr string) (string, func()) {
	tb.Helper()
	srv := f.start(tb, &addr)
	return addr, srv.GracefulStop
}

// start serves f on *addr, setting it to the bound address, until the test
// ends.
func (f *AuthSession) start(tb testing.TB, addr *string) *grpc.Server {
	tb.Helper()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	*addr = ln.Addr().String()
	srv := grpc.NewServer()
	authsessionv1.RegisterAuthSessionServiceServer(srv, f)
	healthpb.RegisterHealthServer(srv, f.Health)
	go srv.Serve(ln)
	tb.Cleanup(srv.Stop)
	return srv
}

// Fail returns an error as authsession reports one: a status with
// ErrorInfo (domain authsession.galaxy, reason code).
func Fail(code apierror.Code, message string, metadata map[string]string) error {
	return apierror.GRPCStatus(&apierror.Error{Code: code, Message: message, Metadata: metadata}, "authsession.galaxy").Err()
}

// FailLimited returns authsession's RATE_LIMITED answer: a status with
// ErrorInfo and a RetryInfo of retryAfter.
func FailLimited(retryAfter time.Duration) error {
	return apierror.GRPCStatus(apierror.Limited(retryAfter, "slow down"), "authsession.galaxy").Err()
}

var _ authsessionv1.AuthSessionServiceServer = (*AuthSession)(nil)
