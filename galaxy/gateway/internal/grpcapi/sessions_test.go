package grpcapi_test

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"galaxy/gateway/api/gatewayv1"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/httpapi"
	"galaxy/gateway/internal/ratelimit"
	"galaxy/platform/apierror"
	"galaxy/platform/logging/logtest"
)

func TestSessionRoundTrip(t *testing.T) {
	t.Parallel()
	st, c := newStack(t)

	refreshed, err := c.client.RefreshSession(t.Context(), &gatewayv1.RefreshSessionRequest{RefreshToken: gatewaytest.RefreshToken})
	if err != nil {
		t.Fatalf("RefreshSession() error = %v", err)
	}
	if refreshed.GetAccessToken() != "access-token-1" || refreshed.GetTokenType() != "Bearer" ||
		refreshed.GetRefreshToken() != "refresh-token-1" || refreshed.GetSessionId() != "sess-1" || refreshed.GetUserId() != "user-1" ||
		!refreshed.GetAccessTokenExpiresAt().AsTime().Equal(gatewaytest.AccessExpiry) ||
		!refreshed.GetRefreshTokenExpiresAt().AsTime().Equal(gatewaytest.RefreshExpiry) {
		t.Errorf("RefreshSession() = %v, want the fake's rotated pair", refreshed)
	}
	if id := st.Auth.ClientID(); id != "127.0.0.1" {
		t.Errorf("client_id = %q, want the peer's IP 127.0.0.1", id)
	}

	token := st.Login(t, "sess-1", "user-1")
	other := st.Login(t, "sess-2", "user-1")
	ctx := withToken(t.Context(), token)
	list, err := c.client.ListSessions(ctx, &gatewayv1.ListSessionsRequest{})
	if err != nil {
		t.Fatalf("ListSessions() error = %v", err)
	}
	current := map[string]bool{}
	for _, s := range list.GetSessions() {
		current[s.GetSessionId()] = s.GetCurrent()
		if !s.GetCreatedAt().IsValid() || !s.GetExpiresAt().IsValid() {
			t.Errorf("session %s lacks its times: %v", s.GetSessionId(), s)
		}
	}
	if want := map[string]bool{"sess-1": true, "sess-2": false}; !maps.Equal(current, want) {
		t.Errorf("ListSessions() current = %v, want %v", current, want)
	}

	if _, err := c.client.RevokeSession(ctx, &gatewayv1.RevokeSessionRequest{SessionId: "sess-2"}); err != nil {
		t.Fatalf("RevokeSession() error = %v", err)
	}
	_, err = c.client.GetMe(withToken(t.Context(), other), &gatewayv1.GetMeRequest{})
	wantStatus(t, err, apierror.Unauthenticated)

	if _, err := c.client.Logout(ctx, &gatewayv1.LogoutRequest{}); err != nil {
		t.Fatalf("Logout() error = %v", err)
	}
	_, err = c.client.GetMe(ctx, &gatewayv1.GetMeRequest{})
	wantStatus(t, err, apierror.Unauthenticated)
	_, err = c.client.Logout(ctx, &gatewayv1.LogoutRequest{})
	wantStatus(t, err, apierror.Unauthenticated)
}

// sessionCalls are the calls that need a bearer token, by name.
var sessionCalls = map[string]func(context.Context, gatewayv1.GatewayServiceClient) error{
	"GetMe": func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
		_, err := c.GetMe(ctx, &gatewayv1.GetMeRequest{})
		return err
	},
	"Logout": func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
		_, err := c.Logout(ctx, &gatewayv1.LogoutRequest{})
		return err
	},
	"ListSessions": func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
		_, err := c.ListSessions(ctx, &gatewayv1.ListSessionsRequest{})
		return err
	},
	"RevokeSession": func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
		_, err := c.RevokeSession(ctx, &gatewayv1.RevokeSessionRequest{SessionId: "sess-2"})
		return err
	},
}

func TestSessionErrors(t *testing.T) {
	t.Parallel()
	live := func(t *testing.T, st *gatewaytest.Stack) string { return st.Login(t, "sess-1", "user-1") }
	tests := []struct {
		name    string
		opts    func(t *testing.T) []gatewaytest.StackOption
		token   func(t *testing.T, st *gatewaytest.Stack) string // "" sends none
		fail    error                                            // authsession's answer
		want    map[string]apierror.Code                         // by call; "" is the default
		wantDep string
	}{
		{
			name:  "no token",
			token: func(*testing.T, *gatewaytest.Stack) string { return "" },
			want:  map[string]apierror.Code{"": apierror.Unauthenticated},
		},
		{
			name:  "garbage token",
			token: func(*testing.T, *gatewaytest.Stack) string { return "garbage" },
			want:  map[string]apierror.Code{"": apierror.Unauthenticated},
		},
		{
			name: "revoked session",
			token: func(t *testing.T, st *gatewaytest.Stack) string {
				s := gatewaytest.ActiveSession("sess-1", "user-1")
				s.Status = "revoked"
				gatewaytest.PutSession(t, st.Redis, s)
				return st.Key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-1", time.Now()))
			},
			want: map[string]apierror.Code{"": apierror.Unauthenticated},
		},
		{
			name:  "session not found passes through",
			token: live,
			fail:  gatewaytest.Fail(apierror.SessionNotFound, "gone", nil),
			want:  map[string]apierror.Code{"": apierror.SessionNotFound, "GetMe": "", "Logout": apierror.Unauthenticated},
		},
		{
			name: "authsession unreachable",
			opts: func(t *testing.T) []gatewaytest.StackOption {
				return []gatewaytest.StackOption{gatewaytest.WithAuthAddr(gatewaytest.DeadAddr(t))}
			},
			token:   live,
			want:    map[string]apierror.Code{"": apierror.DependencyUnavailable, "GetMe": ""},
			wantDep: "authsession",
		},
	}
	for _, tt := range tests {
		for name, call := range sessionCalls {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				var opts []gatewaytest.StackOption
				if tt.opts != nil {
					opts = tt.opts(t)
				}
				st, c := newStack(t, opts...)
				ctx, cancel := context.WithTimeout(t.Context(), gatewaytest.AuthTimeout+time.Second)
				defer cancel()
				if token := tt.token(t, st); token != "" {
					ctx = withToken(ctx, token)
				}
				if tt.fail != nil {
					st.Auth.FailWith(tt.fail)
				}
				want, ok := tt.want[name]
				if !ok {
					want = tt.want[""]
				}
				err := call(ctx, c.client)
				if want == "" {
					if err != nil {
						t.Errorf("error = %v, want nil", err)
					}
					return
				}
				info := wantStatus(t, err, want)
				if got := info.GetMetadata()["dependency"]; got != tt.wantDep {
					t.Errorf("ErrorInfo metadata dependency = %q, want %q", got, tt.wantDep)
				}
				if want == apierror.Unauthenticated && len(st.Auth.Calls()) != 0 && name != "Logout" {
					t.Errorf("authsession calls = %q, want none", st.Auth.Calls())
				}
			})
		}
	}
}

func TestSessionBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(context.Context, gatewayv1.GatewayServiceClient) error
	}{
		{"refresh without token", func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
			_, err := c.RefreshSession(ctx, &gatewayv1.RefreshSessionRequest{})
			return err
		}},
		{"revoke without session id", func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
			_, err := c.RevokeSession(ctx, &gatewayv1.RevokeSessionRequest{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, c := newStack(t)
			err := tt.call(withToken(t.Context(), st.Login(t, "sess-1", "user-1")), c.client)
			wantStatus(t, err, apierror.InvalidArgument)
			if calls := st.Auth.Calls(); len(calls) != 0 {
				t.Errorf("authsession calls = %q, want none", calls)
			}
		})
	}
}

func TestRefreshErrorsPassThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fail    error
		want    apierror.Code
		wantDep string
	}{
		{"invalid refresh token", gatewaytest.Fail(apierror.InvalidRefreshToken, "replayed", nil), apierror.InvalidRefreshToken, ""},
		{"user disabled", gatewaytest.Fail(apierror.UserDisabled, "disabled", nil), apierror.UserDisabled, ""},
		{"redis down at authsession", gatewaytest.Fail(apierror.DependencyUnavailable, "redis is unavailable", map[string]string{"dependency": "redis"}), apierror.DependencyUnavailable, "redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, c := newStack(t)
			st.Auth.FailWith(tt.fail)
			_, err := c.client.RefreshSession(t.Context(), &gatewayv1.RefreshSessionRequest{RefreshToken: "r"})
			info := wantStatus(t, err, tt.want)
			if got := info.GetMetadata()["dependency"]; got != tt.wantDep {
				t.Errorf("ErrorInfo metadata dependency = %q, want %q", got, tt.wantDep)
			}
		})
	}
}

// loginCalls are the rate-limited calls, each well-formed.
var loginCalls = map[string]func(context.Context, gatewayv1.GatewayServiceClient) error{
	"StartEmailLogin": func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
		_, err := c.StartEmailLogin(ctx, &gatewayv1.StartEmailLoginRequest{Email: "user@example.com"})
		return err
	},
	"ConfirmEmailLogin": func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
		_, err := c.ConfirmEmailLogin(ctx, &gatewayv1.ConfirmEmailLoginRequest{ChallengeId: "ch-1", Code: "123456"})
		return err
	},
	"RefreshSession": func(ctx context.Context, c gatewayv1.GatewayServiceClient) error {
		_, err := c.RefreshSession(ctx, &gatewayv1.RefreshSessionRequest{RefreshToken: gatewaytest.RefreshToken})
		return err
	},
}

// wantRateLimited checks a RATE_LIMITED status whose RetryInfo delay is whole
// seconds within [min, max].
func wantRateLimited(t *testing.T, err error, min, max time.Duration) {
	t.Helper()
	wantStatus(t, err, apierror.RateLimited)
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			got := info.GetRetryDelay().AsDuration()
			if got < min || got > max || got%time.Second != 0 {
				t.Errorf("RetryInfo delay = %v, want whole seconds in [%v, %v]", got, min, max)
			}
			return
		}
	}
	t.Errorf("status %v carries no RetryInfo", err)
}

// TestLoginRateLimit spends the caller's burst over gRPC, then checks that
// each login call is refused with a RetryInfo and never reaches authsession,
// and that HTTP calls from the same address share the bucket.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	l, err := ratelimit.New(1, len(loginCalls)+1)
	if err != nil {
		t.Fatalf("ratelimit.New: %v", err)
	}
	st, c := newStack(t, gatewaytest.WithLoginLimiter(l))
	h, err := httpapi.New(st.Service, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	web := httptest.NewServer(h)
	t.Cleanup(web.Close)
	// One HTTP call from the same address spends a token of the same bucket.
	resp, err := http.Post(web.URL+"/v1/auth/email/start", "application/json", strings.NewReader(`{"email": "a@b.c"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP start = %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
	for name, call := range loginCalls {
		if err := call(t.Context(), c.client); err != nil {
			t.Fatalf("%s within the burst: error = %v", name, err)
		}
	}
	for name, call := range loginCalls {
		t.Run(name, func(t *testing.T) {
			wantRateLimited(t, call(t.Context(), c.client), time.Second, time.Minute)
		})
	}
	resp, err = http.Post(web.URL+"/v1/auth/email/start", "application/json", strings.NewReader(`{"email": "a@b.c"}`))
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("HTTP start after the gRPC calls = %v, %v; want 429 with Retry-After", resp, err)
	}
	if err == nil {
		resp.Body.Close()
	}
	if got := len(st.Auth.Calls()); got != len(loginCalls)+1 {
		t.Errorf("authsession calls = %q, want only the %d within the burst", st.Auth.Calls(), len(loginCalls)+1)
	}
}

// TestIPv6ClientIDIsItsNetwork checks that a caller over IPv6 reaches
// authsession as its /64 network, the key of the gateway's own limit.
func TestIPv6ClientIDIsItsNetwork(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	st := gatewaytest.NewStack(t)
	c := serveAt(t, st.Service, "[::1]:0")
	for name, call := range loginCalls {
		if err := call(t.Context(), c.client); err != nil {
			t.Fatalf("%s() error = %v", name, err)
		}
		if id := st.Auth.ClientID(); id != "::/64" {
			t.Errorf("%s: client_id = %q, want ::1's /64 ::/64", name, id)
		}
	}
}

// TestAuthsessionRateLimitPassesThrough checks that authsession's own
// RATE_LIMITED keeps its RetryInfo.
func TestAuthsessionRateLimitPassesThrough(t *testing.T) {
	t.Parallel()
	for name, call := range loginCalls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, c := newStack(t)
			st.Auth.FailWith(gatewaytest.FailLimited(42 * time.Second))
			wantRateLimited(t, call(t.Context(), c.client), 42*time.Second, 42*time.Second)
		})
	}
}

// TestNoSecretInLogs runs every call, failing and succeeding, and checks
// that no token or code reaches a log line.
func TestNoSecretInLogs(t *testing.T) {
	t.Parallel()
	st, c := newStack(t)
	token := st.Login(t, "sess-1", "user-1")
	other := st.Login(t, "sess-2", "user-1")
	ctx := withToken(t.Context(), token)
	c.client.ConfirmEmailLogin(t.Context(), &gatewayv1.ConfirmEmailLoginRequest{ChallengeId: "ch-1", Code: "987654"})
	for range 2 { // the second is a replay
		c.client.RefreshSession(t.Context(), &gatewayv1.RefreshSessionRequest{RefreshToken: gatewaytest.RefreshToken})
	}
	c.client.RefreshSession(t.Context(), &gatewayv1.RefreshSessionRequest{RefreshToken: "unknown-refresh-secret"})
	c.client.ListSessions(ctx, &gatewayv1.ListSessionsRequest{})
	c.client.RevokeSession(ctx, &gatewayv1.RevokeSessionRequest{SessionId: "sess-2"})
	c.client.ListSessions(withToken(t.Context(), other), &gatewayv1.ListSessionsRequest{})
	c.client.Logout(ctx, &gatewayv1.LogoutRequest{})
	c.client.Logout(ctx, &gatewayv1.LogoutRequest{})
	st.Auth.FailWith(gatewaytest.Fail(apierror.Internal, "bug", nil)) // failures logged with their cause
	c.client.RefreshSession(t.Context(), &gatewayv1.RefreshSessionRequest{RefreshToken: "refresh-token-1"})

	logs := logtest.Untraced(c.logs.String())
	for _, secret := range []string{token, other, "987654", "access-token", "refresh-token", "unknown-refresh-secret"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold %q:\n%s", secret, logs)
		}
	}
	if n := strings.Count(logs, `"msg":"grpc call"`); n != 10 {
		t.Errorf("call lines = %d, want 10:\n%s", n, logs)
	}
	for _, want := range []string{"RefreshSession", "ListSessions", "RevokeSession", "Logout"} {
		if !slices.ContainsFunc(strings.Split(logs, "\n"), func(l string) bool { return strings.Contains(l, "/"+want+`"`) }) {
			t.Errorf("logs lack a %s line:\n%s", want, logs)
		}
	}
}

// TestAuthsessionTextNotLogged checks that authsession failures whose text
// echoes the call's code or refresh token leave it out of the call's log
// line, which still records the failure.
func TestAuthsessionTextNotLogged(t *testing.T) {
	t.Parallel()
	const code, refresh = "secret-code-987654", "secret-refresh-token"
	for name, fail := range map[string]error{
		"internal":                      gatewaytest.Fail(apierror.Internal, "bug with "+code+" "+refresh, nil),
		"unavailable":                   gatewaytest.Fail(apierror.DependencyUnavailable, "mail down for "+code+" "+refresh, map[string]string{"dependency": "mail"}),
		"internal without ErrorInfo":    status.Error(codes.Internal, "bug with "+code+" "+refresh),
		"unavailable without ErrorInfo": status.Error(codes.Unavailable, "down for "+code+" "+refresh),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, c := newStack(t)
			st.Auth.FailWith(fail)
			_, confirmErr := c.client.ConfirmEmailLogin(t.Context(), &gatewayv1.ConfirmEmailLoginRequest{ChallengeId: "ch-1", Code: code})
			_, refreshErr := c.client.RefreshSession(t.Context(), &gatewayv1.RefreshSessionRequest{RefreshToken: refresh})
			logs := c.logs.String()
			for _, secret := range []string{code, refresh} {
				if strings.Contains(logs, secret) {
					t.Errorf("logs hold %q:\n%s", secret, logs)
				}
				for _, err := range []error{confirmErr, refreshErr} {
					if strings.Contains(status.Convert(err).Message(), secret) {
						t.Errorf("answer %v holds %q", err, secret)
					}
				}
			}
			if n := strings.Count(logs, `"error":"`); n != 2 {
				t.Errorf("lines with the failure's cause = %d, want 2:\n%s", n, logs)
			}
		})
	}
}
