package grpcapi_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"galaxy/gateway/api/gatewayv1"
	"galaxy/gateway/internal/gateway"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/grpcapi"
	"galaxy/platform/apierror"
	"galaxy/platform/grpcserver"
	"galaxy/platform/logging"
	"galaxy/platform/logging/logtest"
)

// conn serves the gRPC API over svc on loopback and dials it.
type conn struct {
	cc     *grpc.ClientConn
	client gatewayv1.GatewayServiceClient
	logs   *logtest.Buffer
}

func serve(t *testing.T, svc *gateway.Service) *conn {
	t.Helper()
	return serveAt(t, svc, "127.0.0.1:0")
}

// serveAt is serve on addr.
func serveAt(t *testing.T, svc *gateway.Service, addr string) *conn {
	t.Helper()
	logs := &logtest.Buffer{}
	logger, err := logging.New(logs, "gateway", "info")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := grpcapi.NewServer(svc, logger)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { cc.Close() })
	return &conn{cc: cc, client: gatewayv1.NewGatewayServiceClient(cc), logs: logs}
}

func newStack(t *testing.T, opts ...gatewaytest.StackOption) (*gatewaytest.Stack, *conn) {
	t.Helper()
	st := gatewaytest.NewStack(t, opts...)
	return st, serve(t, st.Service)
}

func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// wantStatus checks err is a status with the gRPC code of code and an
// ErrorInfo (domain gateway.galaxy, reason code), and returns the ErrorInfo.
func wantStatus(t *testing.T, err error, code apierror.Code) *errdetails.ErrorInfo {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a gRPC status", err)
	}
	if got, want := st.Code(), apierror.GRPCCode(code); got != want {
		t.Errorf("status code = %s, want %s (%v)", got, want, err)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetReason() != string(code) || info.GetDomain() != grpcapi.Domain {
				t.Errorf("ErrorInfo = %v, want reason %s domain %s", info, code, grpcapi.Domain)
			}
			return info
		}
	}
	t.Fatalf("status %v carries no ErrorInfo", st)
	return nil
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	st, c := newStack(t)

	start, err := c.client.StartEmailLogin(t.Context(), &gatewayv1.StartEmailLoginRequest{Email: "user@example.com"})
	if err != nil {
		t.Fatalf("StartEmailLogin() error = %v", err)
	}
	if start.GetChallengeId() != "ch-1" || !start.GetExpiresAt().AsTime().Equal(gatewaytest.ChallengeExpiry) {
		t.Errorf("StartEmailLogin() = %v, want challenge ch-1 expiring %v", start, gatewaytest.ChallengeExpiry)
	}
	if id := st.Auth.ClientID(); id != "127.0.0.1" {
		t.Errorf("client_id = %q, want the peer's IP 127.0.0.1", id)
	}

	confirm, err := c.client.ConfirmEmailLogin(t.Context(), &gatewayv1.ConfirmEmailLoginRequest{ChallengeId: "ch-1", Code: "123456"})
	if err != nil {
		t.Fatalf("ConfirmEmailLogin() error = %v", err)
	}
	if confirm.GetAccessToken() != "access-token" || confirm.GetTokenType() != "Bearer" ||
		confirm.GetRefreshToken() != "refresh-token" || confirm.GetSessionId() != "sess-1" || confirm.GetUserId() != "user-1" ||
		!confirm.GetAccessTokenExpiresAt().AsTime().Equal(gatewaytest.AccessExpiry) ||
		!confirm.GetRefreshTokenExpiresAt().AsTime().Equal(gatewaytest.RefreshExpiry) {
		t.Errorf("ConfirmEmailLogin() = %v, want the fake's login", confirm)
	}

	token := st.Login(t, "sess-9", "user-9")
	me, err := c.client.GetMe(withToken(t.Context(), token), &gatewayv1.GetMeRequest{})
	if err != nil {
		t.Fatalf("GetMe() error = %v", err)
	}
	if me.GetUserId() != "user-9" || me.GetSessionId() != "sess-9" || me.GetEmail() != "user-9@example.com" || me.GetSessionExpiresAt() == nil {
		t.Errorf("GetMe() = %v, want user-9's session sess-9", me)
	}
	if logs := c.logs.String(); strings.Contains(logs, token) || strings.Contains(logs, "access-token") {
		t.Errorf("logs hold a token:\n%s", logs)
	}
	if logs := c.logs.String(); !strings.Contains(logs, `"method":"/galaxy.gateway.v1.GatewayService/GetMe"`) {
		t.Errorf("logs = %s, want a line for GetMe", logs)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	type call func(ctx context.Context, c gatewayv1.GatewayServiceClient) error
	start := func(email string) call {
		return func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
			_, err := c.StartEmailLogin(ctx, &gatewayv1.StartEmailLoginRequest{Email: email})
			return err
		}
	}
	confirm := func(challenge, code string) call {
		return func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
			_, err := c.ConfirmEmailLogin(ctx, &gatewayv1.ConfirmEmailLoginRequest{ChallengeId: challenge, Code: code})
			return err
		}
	}
	getMe := func(authorization ...string) call {
		return func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
			for _, a := range authorization {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", a)
			}
			_, err := c.GetMe(ctx, &gatewayv1.GetMeRequest{})
			return err
		}
	}
	tests := []struct {
		name    string
		opts    func(t *testing.T) []gatewaytest.StackOption
		fail    error // authsession's answer
		call    call
		want    apierror.Code
		wantDep string
	}{
		{name: "missing email", call: start(""), want: apierror.InvalidArgument},
		{name: "missing code", call: confirm("ch-1", ""), want: apierror.InvalidArgument},
		{name: "no token", call: getMe(), want: apierror.Unauthenticated},
		{name: "not a bearer token", call: getMe("Basic abc"), want: apierror.Unauthenticated},
		{name: "garbage token", call: getMe("Bearer garbage"), want: apierror.Unauthenticated},
		{name: "two tokens", call: getMe("Bearer a", "Bearer b"), want: apierror.Unauthenticated},
		{name: "invalid code passes through", fail: gatewaytest.Fail(apierror.InvalidCode, "wrong code", nil), call: confirm("ch-1", "000000"), want: apierror.InvalidCode},
		{name: "challenge not found passes through", fail: gatewaytest.Fail(apierror.ChallengeNotFound, "gone", nil), call: confirm("ch-1", "000000"), want: apierror.ChallengeNotFound},
		{name: "too many attempts passes through", fail: gatewaytest.Fail(apierror.TooManyAttempts, "burned", nil), call: confirm("ch-1", "000000"), want: apierror.TooManyAttempts},
		{name: "user disabled passes through", fail: gatewaytest.Fail(apierror.UserDisabled, "disabled", nil), call: confirm("ch-1", "000000"), want: apierror.UserDisabled},
		{name: "malformed email passes through", fail: gatewaytest.Fail(apierror.InvalidArgument, "malformed", nil), call: start("nope"), want: apierror.InvalidArgument},
		{name: "mail down passes through", fail: gatewaytest.Fail(apierror.DependencyUnavailable, "mail is unavailable", map[string]string{"dependency": "mail"}), call: start("a@b.c"), want: apierror.DependencyUnavailable, wantDep: "mail"},
		{
			name: "authsession unreachable",
			opts: func(t *testing.T) []gatewaytest.StackOption {
				return []gatewaytest.StackOption{gatewaytest.WithAuthAddr(gatewaytest.DeadAddr(t))}
			},
			call: confirm("ch-1", "123456"), want: apierror.DependencyUnavailable, wantDep: "authsession",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []gatewaytest.StackOption
			if tt.opts != nil {
				opts = tt.opts(t)
			}
			st, c := newStack(t, opts...)
			if tt.fail != nil {
				st.Auth.FailWith(tt.fail)
			}
			ctx, cancel := context.WithTimeout(t.Context(), gatewaytest.AuthTimeout+time.Second)
			defer cancel()
			info := wantStatus(t, tt.call(ctx, c.client), tt.want)
			if got := info.GetMetadata()["dependency"]; got != tt.wantDep {
				t.Errorf("ErrorInfo metadata dependency = %q, want %q", got, tt.wantDep)
			}
		})
	}
}

// TestRedisDown checks that a valid token meets a dead Redis as UNAVAILABLE
// naming redis.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	st, c := newStack(t, gatewaytest.WithRedisAddr(gatewaytest.DeadAddr(t)))
	token := st.Key.Sign(t, gatewaytest.AccessClaims("u", "s", time.Now()))
	_, err := c.client.GetMe(withToken(t.Context(), token), &gatewayv1.GetMeRequest{})
	info := wantStatus(t, err, apierror.DependencyUnavailable)
	if got := info.GetMetadata()["dependency"]; got != "redis" {
		t.Errorf("dependency = %q, want redis", got)
	}
}

func TestMessageSizeLimit(t *testing.T) {
	t.Parallel()
	st, c := newStack(t)
	_, err := c.client.StartEmailLogin(t.Context(), &gatewayv1.StartEmailLoginRequest{Email: strings.Repeat("a", grpcserver.MaxRecvMsgSize)})
	if got := status.Code(err); got != codes.ResourceExhausted {
		t.Errorf("oversized message: code = %s, want ResourceExhausted", got)
	}
	if id := st.Auth.ClientID(); id != "" {
		t.Errorf("authsession was called for an oversized message")
	}
}

type panicky struct{}

func (panicky) Verify(string) (gateway.Claims, error) { panic("verifier bug") }
func (panicky) Session(context.Context, string) (gateway.Session, bool, error) {
	return gateway.Session{}, false, nil
}
func (panicky) Ping(context.Context) error { return nil }
func (panicky) StartEmailLogin(context.Context, string, string) (gateway.Challenge, error) {
	return gateway.Challenge{}, nil
}
func (panicky) ConfirmEmailLogin(context.Context, string, string, string) (gateway.Login, error) {
	return gateway.Login{}, nil
}
func (panicky) RefreshSession(context.Context, string, string) (gateway.Login, error) {
	return gateway.Login{}, nil
}
func (panicky) RevokeSession(context.Context, string, string) error { return nil }
func (panicky) ListSessions(context.Context, string) ([]gateway.SessionInfo, error) {
	return nil, nil
}
func (panicky) Check(context.Context) error { return nil }

func TestPanicIsInternal(t *testing.T) {
	t.Parallel()
	svc, err := gateway.NewService(panicky{}, panicky{}, panicky{})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	c := serve(t, svc)
	_, err = c.client.GetMe(withToken(t.Context(), "a.b.c"), &gatewayv1.GetMeRequest{})
	wantStatus(t, err, apierror.Internal)
	if strings.Contains(status.Convert(err).Message(), "verifier bug") {
		t.Errorf("message %q leaks the panic", status.Convert(err).Message())
	}
	if logs := c.logs.String(); !strings.Contains(logs, "verifier bug") {
		t.Errorf("logs = %s, want the panic", logs)
	}
}
