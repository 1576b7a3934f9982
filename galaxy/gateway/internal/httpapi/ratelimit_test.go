package httpapi_test

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/httpapi"
	"galaxy/gateway/internal/ratelimit"
	"galaxy/platform/apierror"
)

// loginCalls are the rate-limited calls, each well-formed.
var loginCalls = []request{
	{method: "POST", path: "/v1/auth/email/start", body: `{"email": "user@example.com"}`},
	{method: "POST", path: "/v1/auth/email/confirm", body: `{"challenge_id": "ch-1", "code": "123456"}`},
	{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token": "refresh-token"}`},
}

// limitedStack is a stack whose login calls are limited to a burst of
// burst and then one a minute.
func limitedStack(t *testing.T, burst int) (*gatewaytest.Stack, *api) {
	t.Helper()
	l, err := ratelimit.New(1, burst)
	if err != nil {
		t.Fatalf("ratelimit.New: %v", err)
	}
	return newStack(t, gatewaytest.WithLoginLimiter(l))
}

// wantRateLimited checks a 429 RATE_LIMITED problem whose Retry-After is
// whole seconds within [min, max].
func wantRateLimited(t *testing.T, resp *http.Response, body []byte, min, max int) {
	t.Helper()
	wantProblem(t, resp, body, apierror.RateLimited)
	got, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || got < min || got > max {
		t.Errorf("Retry-After = %q, want whole seconds in [%d, %d]", resp.Header.Get("Retry-After"), min, max)
	}
}

// TestLoginRateLimit spends a client's burst on the three login calls, then
// checks that each of them is refused with a Retry-After and never reaches
// authsession, while the authenticated calls go on.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	st, a := limitedStack(t, len(loginCalls))
	token := st.Login(t, "sess-1", "user-1")
	for _, req := range loginCalls {
		if resp, body := a.do(t, req); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s within the burst: status = %d, want 200 (body %s)", req.path, resp.StatusCode, body)
		}
	}
	for _, req := range loginCalls {
		resp, body := a.do(t, req)
		wantRateLimited(t, resp, body, 1, 60)
	}
	if want := []string{"StartEmailLogin", "ConfirmEmailLogin", "RefreshSession"}; !slices.Equal(st.Auth.Calls(), want) {
		t.Errorf("authsession calls = %q, want only those within the burst %q", st.Auth.Calls(), want)
	}
	for _, req := range []request{
		{method: "GET", path: "/v1/me", header: bearer(token)},
		{method: "GET", path: "/v1/sessions", header: bearer(token)},
	} {
		if resp, body := a.do(t, req); resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s after the limit: status = %d, want 200 (body %s)", req.method, req.path, resp.StatusCode, body)
		}
	}
}

// TestLoginRateLimitPerClient checks that each client address has its own
// bucket.
func TestLoginRateLimitPerClient(t *testing.T) {
	t.Parallel()
	_, a := limitedStack(t, 2)
	call := func(from string) (*http.Response, []byte) {
		req := loginCalls[0]
		req.from = from
		return a.do(t, req)
	}
	for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
		for i := range 2 {
			if resp, body := call(from); resp.StatusCode != http.StatusOK {
				t.Fatalf("call %d from %s: status = %d, want 200 (body %s)", i+1, from, resp.StatusCode, body)
			}
		}
		resp, body := call(from)
		wantRateLimited(t, resp, body, 1, 60)
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
	st := gatewaytest.NewStack(t)
	h, err := httpapi.New(st.Service, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	a := &api{url: srv.URL, logs: &logBuffer{}}
	for _, req := range loginCalls {
		if resp, body := a.do(t, req); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status = %d, want 200 (body %s)", req.path, resp.StatusCode, body)
		}
		if id := st.Auth.ClientID(); id != "::/64" {
			t.Errorf("%s: client_id = %q, want ::1's /64 ::/64", req.path, id)
		}
	}
}

// TestMalformedLoginsAreNotCounted checks that requests refused for their
// shape do not spend the client's bucket.
func TestMalformedLoginsAreNotCounted(t *testing.T) {
	t.Parallel()
	_, a := limitedStack(t, 1)
	for _, body := range []string{`{`, `{}`, `{"email": ""}`, `{"email": "a@b.c", "x": 1}`} {
		resp, got := a.do(t, request{method: "POST", path: "/v1/auth/email/start", body: body})
		wantProblem(t, resp, got, apierror.InvalidArgument)
	}
	if resp, body := a.do(t, loginCalls[0]); resp.StatusCode != http.StatusOK {
		t.Errorf("first well-formed call: status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
}

// TestAuthsessionRateLimitPassesThrough checks that authsession's own
// RATE_LIMITED keeps its delay as Retry-After.
func TestAuthsessionRateLimitPassesThrough(t *testing.T) {
	t.Parallel()
	for _, req := range loginCalls {
		t.Run(req.path, func(t *testing.T) {
			t.Parallel()
			st, a := newStack(t)
			st.Auth.FailWith(gatewaytest.FailLimited(41*time.Second + time.Millisecond))
			resp, body := a.do(t, req)
			wantRateLimited(t, resp, body, 42, 42)
		})
	}
}
