package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"galaxy/gateway/internal/gateway"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/httpapi"
	"galaxy/platform/apierror"
	"galaxy/platform/logging/logtest"
)

func TestStartEmailLogin(t *testing.T) {
	t.Parallel()
	st, a := newStack(t)
	resp, body := a.do(t, request{method: "POST", path: "/v1/auth/email/start", body: `{"email": "user@example.com"}`})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
	got := decodeObject(t, body, "challenge_id", "expires_at")
	if got["challenge_id"] != "ch-1" || got["expires_at"] != "2030-01-01T00:10:00Z" {
		t.Errorf("body = %s, want challenge ch-1 expiring 2030-01-01T00:10:00Z", body)
	}
	if id := st.Auth.ClientID(); id != "127.0.0.1" {
		t.Errorf("client_id = %q, want the caller's IP 127.0.0.1", id)
	}
	for header, want := range map[string]string{
		"Content-Type": "application/json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
}

func TestConfirmEmailLogin(t *testing.T) {
	t.Parallel()
	st := gatewaytest.NewStack(t)
	clock := func() time.Time { return gatewaytest.AccessExpiry.Add(-15 * time.Minute) }
	a := serve(t, st.Service, httpapi.WithClock(clock))
	resp, body := a.do(t, request{
		method: "POST", path: "/v1/auth/email/confirm",
		body:   `{"challenge_id": "ch-1", "code": "123456"}`,
		header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
	got := decodeObject(t, body, "access_token", "token_type", "expires_in", "access_token_expires_at",
		"refresh_token", "refresh_token_expires_at", "session_id", "user_id")
	want := map[string]any{
		"access_token": "access-token", "token_type": "Bearer", "expires_in": 900.0,
		"access_token_expires_at": "2030-01-01T00:15:00Z", "refresh_token": "refresh-token",
		"refresh_token_expires_at": "2030-01-31T00:00:00Z", "session_id": "sess-1", "user_id": "user-1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
	}
}

func TestMe(t *testing.T) {
	t.Parallel()
	st, a := newStack(t)
	token := st.Login(t, "sess-1", "user-1")
	resp, body := a.do(t, request{method: "GET", path: "/v1/me", header: bearer(token)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
	got := decodeObject(t, body, "user_id", "email", "session_id", "session_expires_at")
	if got["user_id"] != "user-1" || got["email"] != "user-1@example.com" || got["session_id"] != "sess-1" {
		t.Errorf("body = %s, want user-1's session sess-1", body)
	}
	if _, err := time.Parse(time.RFC3339, got["session_expires_at"].(string)); err != nil {
		t.Errorf("session_expires_at = %v: %v", got["session_expires_at"], err)
	}
}

func TestMeRefusesDeadSessions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		session func(gateway.Session) (gateway.Session, bool) // false: store nothing
	}{
		{"missing key", func(s gateway.Session) (gateway.Session, bool) { return s, false }},
		{"status revoked", func(s gateway.Session) (gateway.Session, bool) { s.Status = "revoked"; return s, true }},
		{"user mismatch", func(s gateway.Session) (gateway.Session, bool) { s.UserID = "user-2"; return s, true }},
		{"expired", func(s gateway.Session) (gateway.Session, bool) {
			s.ExpiresAt = time.Now().Add(-time.Second)
			return s, true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, a := newStack(t)
			if s, store := tt.session(gatewaytest.ActiveSession("sess-1", "user-1")); store {
				gatewaytest.PutSession(t, st.Redis, s)
			}
			token := st.Key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-1", time.Now()))
			resp, body := a.do(t, request{method: "GET", path: "/v1/me", header: bearer(token)})
			wantProblem(t, resp, body, apierror.Unauthenticated)
		})
	}
}

// TestRevocationIsImmediate checks that deleting a live session's key refuses
// its token on the next call.
func TestRevocationIsImmediate(t *testing.T) {
	t.Parallel()
	st, a := newStack(t)
	token := st.Login(t, "sess-1", "user-1")
	if resp, body := a.do(t, request{method: "GET", path: "/v1/me", header: bearer(token)}); resp.StatusCode != http.StatusOK {
		t.Fatalf("before revocation: status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
	st.Redis.Del(gatewaytest.Prefix + "session:sess-1")
	resp, body := a.do(t, request{method: "GET", path: "/v1/me", header: bearer(token)})
	wantProblem(t, resp, body, apierror.Unauthenticated)
}

// TestBadInput sends malformed requests: each gets its problem code and none
// reaches authsession or answers 500.
func TestBadInput(t *testing.T) {
	t.Parallel()
	const start, confirm, refresh = "/v1/auth/email/start", "/v1/auth/email/confirm", "/v1/auth/refresh"
	big := `{"email": "` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`
	tests := []struct {
		name      string
		req       request
		want      apierror.Code
		wantAllow string
	}{
		{"bad JSON", request{method: "POST", path: start, body: `{"email": `}, apierror.InvalidArgument, ""},
		{"not JSON", request{method: "POST", path: start, body: `email=user@example.com`}, apierror.InvalidArgument, ""},
		{"empty body", request{method: "POST", path: start, header: http.Header{"Content-Type": {"application/json"}}}, apierror.InvalidArgument, ""},
		{"unknown field", request{method: "POST", path: start, body: `{"email": "a@b.c", "admin": true}`}, apierror.InvalidArgument, ""},
		{"wrong type", request{method: "POST", path: start, body: `{"email": 42}`}, apierror.InvalidArgument, ""},
		{"object for a string", request{method: "POST", path: confirm, body: `{"challenge_id": {}, "code": "1"}`}, apierror.InvalidArgument, ""},
		{"null field", request{method: "POST", path: start, body: `{"email": null}`}, apierror.InvalidArgument, ""},
		{"array body", request{method: "POST", path: start, body: `["a@b.c"]`}, apierror.InvalidArgument, ""},
		{"string body", request{method: "POST", path: start, body: `"a@b.c"`}, apierror.InvalidArgument, ""},
		{"null body", request{method: "POST", path: start, body: `null`}, apierror.InvalidArgument, ""},
		{"two objects", request{method: "POST", path: start, body: `{"email": "a@b.c"}{"email": "d@e.f"}`}, apierror.InvalidArgument, ""},
		{"trailing garbage", request{method: "POST", path: start, body: `{"email": "a@b.c"} x`}, apierror.InvalidArgument, ""},
		{"missing field", request{method: "POST", path: start, body: `{}`}, apierror.InvalidArgument, ""},
		{"empty field", request{method: "POST", path: start, body: `{"email": ""}`}, apierror.InvalidArgument, ""},
		{"missing code", request{method: "POST", path: confirm, body: `{"challenge_id": "ch-1"}`}, apierror.InvalidArgument, ""},
		{"missing challenge", request{method: "POST", path: confirm, body: `{"code": "123456"}`}, apierror.InvalidArgument, ""},
		{"refresh: bad JSON", request{method: "POST", path: refresh, body: `{"refresh_token": `}, apierror.InvalidArgument, ""},
		{"refresh: unknown field", request{method: "POST", path: refresh, body: `{"refresh_token": "r", "session_id": "s"}`}, apierror.InvalidArgument, ""},
		{"refresh: missing token", request{method: "POST", path: refresh, body: `{}`}, apierror.InvalidArgument, ""},
		{"refresh: empty token", request{method: "POST", path: refresh, body: `{"refresh_token": ""}`}, apierror.InvalidArgument, ""},
		{"refresh: wrong type", request{method: "POST", path: refresh, body: `{"refresh_token": 7}`}, apierror.InvalidArgument, ""},
		{"refresh: empty body", request{method: "POST", path: refresh, header: http.Header{"Content-Type": {"application/json"}}}, apierror.InvalidArgument, ""},
		{"refresh: form", request{method: "POST", path: refresh, body: `refresh_token=r`, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}, apierror.UnsupportedMediaType, ""},
		{"text/plain", request{method: "POST", path: start, body: `{"email": "a@b.c"}`, header: http.Header{"Content-Type": {"text/plain"}}}, apierror.UnsupportedMediaType, ""},
		{"form", request{method: "POST", path: confirm, body: `challenge_id=1`, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}, apierror.UnsupportedMediaType, ""},
		{"no content type", request{method: "POST", path: start, body: `{"email": "a@b.c"}`, header: http.Header{"Content-Type": nil}}, apierror.UnsupportedMediaType, ""},
		{"malformed content type", request{method: "POST", path: start, body: `{"email": "a@b.c"}`, header: http.Header{"Content-Type": {"application/json; charset"}}}, apierror.UnsupportedMediaType, ""},
		{"latin-1 JSON", request{method: "POST", path: start, body: `{"email": "a@b.c"}`, header: http.Header{"Content-Type": {"application/json; charset=iso-8859-1"}}}, apierror.UnsupportedMediaType, ""},
		{"oversized body", request{method: "POST", path: start, body: big}, apierror.PayloadTooLarge, ""},
		{"oversized padding", request{method: "POST", path: start, body: `{"email": "a@b.c"}` + strings.Repeat(" ", httpapi.MaxBodyBytes)}, apierror.PayloadTooLarge, ""},
		{"unknown route", request{method: "GET", path: "/v1/nope"}, apierror.NotFound, ""},
		{"root", request{method: "GET", path: "/"}, apierror.NotFound, ""},
		{"trailing slash", request{method: "GET", path: "/v1/me/"}, apierror.NotFound, ""},
		{"GET on a POST route", request{method: "GET", path: start}, apierror.MethodNotAllowed, "POST"},
		{"PUT on a POST route", request{method: "PUT", path: confirm, body: `{}`}, apierror.MethodNotAllowed, "POST"},
		{"DELETE on a GET route", request{method: "DELETE", path: "/v1/me"}, apierror.MethodNotAllowed, "GET, HEAD"},
		{"GET on refresh", request{method: "GET", path: refresh}, apierror.MethodNotAllowed, "POST"},
		{"GET on logout", request{method: "GET", path: "/v1/auth/logout"}, apierror.MethodNotAllowed, "POST"},
		{"DELETE on logout", request{method: "DELETE", path: "/v1/auth/logout"}, apierror.MethodNotAllowed, "POST"},
		{"POST on sessions", request{method: "POST", path: "/v1/sessions", body: `{}`}, apierror.MethodNotAllowed, "GET, HEAD"},
		{"DELETE on sessions", request{method: "DELETE", path: "/v1/sessions"}, apierror.MethodNotAllowed, "GET, HEAD"},
		{"GET on a session", request{method: "GET", path: "/v1/sessions/sess-1"}, apierror.MethodNotAllowed, "DELETE"},
		{"PUT on a session", request{method: "PUT", path: "/v1/sessions/sess-1", body: `{}`}, apierror.MethodNotAllowed, "DELETE"},
		{"POST on a session", request{method: "POST", path: "/v1/sessions/sess-1", body: `{}`}, apierror.MethodNotAllowed, "DELETE"},
		{"no session id", request{method: "DELETE", path: "/v1/sessions/"}, apierror.NotFound, ""},
		{"session id with a slash", request{method: "DELETE", path: "/v1/sessions/a/b"}, apierror.NotFound, ""},
		{"POST on healthz", request{method: "POST", path: "/healthz", body: `{}`}, apierror.MethodNotAllowed, "GET, HEAD"},
		{"OPTIONS", request{method: "OPTIONS", path: "/openapi.json"}, apierror.MethodNotAllowed, "GET, HEAD"},
		{"no Authorization", request{method: "GET", path: "/v1/me"}, apierror.Unauthenticated, ""},
		{"garbage Authorization", request{method: "GET", path: "/v1/me", header: http.Header{"Authorization": {"garbage"}}}, apierror.Unauthenticated, ""},
		{"Basic Authorization", request{method: "GET", path: "/v1/me", header: http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}}, apierror.Unauthenticated, ""},
		{"garbage bearer token", request{method: "GET", path: "/v1/me", header: bearer("not.a.token")}, apierror.Unauthenticated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, a := newStack(t)
			resp, body := a.do(t, tt.req)
			if resp.StatusCode >= 500 {
				t.Fatalf("status = %d, want a 4xx (body %s)", resp.StatusCode, body)
			}
			wantProblem(t, resp, body, tt.want)
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if calls := st.Auth.Calls(); len(calls) != 0 {
				t.Errorf("authsession calls = %q, want the request refused at the gateway", calls)
			}
		})
	}
}

// TestAuthsessionErrorsPassThrough checks that authsession's stable codes
// reach the HTTP caller unchanged, with their metadata.
func TestAuthsessionErrorsPassThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		path    string
		body    string
		want    apierror.Code
		wantDep string
	}{
		{"malformed email", gatewaytest.Fail(apierror.InvalidArgument, "malformed email", nil), "/v1/auth/email/start", `{"email": "nope"}`, apierror.InvalidArgument, ""},
		{"mail down", gatewaytest.Fail(apierror.DependencyUnavailable, "mail is unavailable", map[string]string{"dependency": "mail"}), "/v1/auth/email/start", `{"email": "a@b.c"}`, apierror.DependencyUnavailable, "mail"},
		{"invalid code", gatewaytest.Fail(apierror.InvalidCode, "wrong code", nil), "/v1/auth/email/confirm", `{"challenge_id": "ch", "code": "000000"}`, apierror.InvalidCode, ""},
		{"challenge not found", gatewaytest.Fail(apierror.ChallengeNotFound, "no challenge", nil), "/v1/auth/email/confirm", `{"challenge_id": "ch", "code": "000000"}`, apierror.ChallengeNotFound, ""},
		{"too many attempts", gatewaytest.Fail(apierror.TooManyAttempts, "burned", nil), "/v1/auth/email/confirm", `{"challenge_id": "ch", "code": "000000"}`, apierror.TooManyAttempts, ""},
		{"user disabled", gatewaytest.Fail(apierror.UserDisabled, "disabled", nil), "/v1/auth/email/confirm", `{"challenge_id": "ch", "code": "000000"}`, apierror.UserDisabled, ""},
		{"user service down", gatewaytest.Fail(apierror.DependencyUnavailable, "user is unavailable", map[string]string{"dependency": "user"}), "/v1/auth/email/confirm", `{"challenge_id": "ch", "code": "000000"}`, apierror.DependencyUnavailable, "user"},
		{"invalid refresh token", gatewaytest.Fail(apierror.InvalidRefreshToken, "replayed", nil), "/v1/auth/refresh", `{"refresh_token": "r"}`, apierror.InvalidRefreshToken, ""},
		{"refresh of a disabled user", gatewaytest.Fail(apierror.UserDisabled, "disabled", nil), "/v1/auth/refresh", `{"refresh_token": "r"}`, apierror.UserDisabled, ""},
		{"refresh with redis down", gatewaytest.Fail(apierror.DependencyUnavailable, "redis is unavailable", map[string]string{"dependency": "redis"}), "/v1/auth/refresh", `{"refresh_token": "r"}`, apierror.DependencyUnavailable, "redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, a := newStack(t)
			st.Auth.FailWith(tt.err)
			resp, body := a.do(t, request{method: "POST", path: tt.path, body: tt.body})
			p := wantProblem(t, resp, body, tt.want)
			if got := p.Metadata["dependency"]; got != tt.wantDep {
				t.Errorf("metadata.dependency = %q, want %q", got, tt.wantDep)
			}
		})
	}
}

func TestProbes(t *testing.T) {
	t.Parallel()
	_, a := newStack(t)
	for _, req := range []request{{method: "GET", path: "/healthz"}, {method: "GET", path: "/readyz"}} {
		resp, body := a.do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status = %d, want 200 (body %s)", req.path, resp.StatusCode, body)
			continue
		}
		if got := decodeObject(t, body, "status"); got["status"] != "ok" {
			t.Errorf("%s: body = %s, want status ok", req.path, body)
		}
	}
	if resp, _ := a.do(t, request{method: "HEAD", path: "/healthz"}); resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD /healthz: status = %d, want 200", resp.StatusCode)
	}
}

// panicky is a token verifier with a bug.
type panicky struct{}

func (panicky) Verify(string) (gateway.Claims, error) { panic("verifier bug") }

func TestPanicIsInternalError(t *testing.T) {
	t.Parallel()
	svc, err := gateway.NewService(panicky{}, stubStore{}, stubAuth{})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	a := serve(t, svc)
	resp, body := a.do(t, request{method: "GET", path: "/v1/me", header: bearer("a.b.c")})
	p := wantProblem(t, resp, body, apierror.Internal)
	if strings.Contains(p.Detail, "verifier bug") {
		t.Errorf("detail = %q leaks the panic", p.Detail)
	}
	if logs := a.logs.String(); !strings.Contains(logs, "verifier bug") || !strings.Contains(logs, `"status":500`) {
		t.Errorf("logs = %s, want the panic and a 500 access line", logs)
	}
	// The server goes on serving.
	if resp, _ := a.do(t, request{method: "GET", path: "/healthz"}); resp.StatusCode != http.StatusOK {
		t.Errorf("after the panic: /healthz status = %d, want 200", resp.StatusCode)
	}
}

type stubStore struct{}

func (stubStore) Session(context.Context, string) (gateway.Session, bool, error) {
	return gateway.Session{}, false, nil
}
func (stubStore) Ping(context.Context) error { return nil }

type stubAuth struct{}

func (stubAuth) StartEmailLogin(context.Context, string, string) (gateway.Challenge, error) {
	return gateway.Challenge{}, nil
}
func (stubAuth) ConfirmEmailLogin(context.Context, string, string, string) (gateway.Login, error) {
	return gateway.Login{}, nil
}
func (stubAuth) RefreshSession(context.Context, string, string) (gateway.Login, error) {
	return gateway.Login{}, nil
}
func (stubAuth) RevokeSession(context.Context, string, string) error { return nil }
func (stubAuth) ListSessions(context.Context, string) ([]gateway.SessionInfo, error) {
	return nil, nil
}
func (stubAuth) Check(context.Context) error { return nil }

// TestAccessLog checks the one line per request and what it must never hold.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	st, a := newStack(t)
	token := st.Login(t, "sess-1", "user-1")
	a.do(t, request{method: "GET", path: "/v1/me?access_token=query-secret", header: bearer(token)})
	a.do(t, request{method: "POST", path: "/v1/auth/email/confirm", body: `{"challenge_id": "ch-1", "code": "987654"}`})

	logs := logtest.Untraced(a.logs.String())
	for _, secret := range []string{token, "query-secret", "987654", "access-token", "refresh-token"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold %q:\n%s", secret, logs)
		}
	}
	var lines []map[string]any
	for line := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if m["msg"] == "http request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("access lines = %d, want 2:\n%s", len(lines), logs)
	}
	if got := lines[0]; got["method"] != "GET" || got["path"] != "/v1/me" || got["status"] != 200.0 || got["duration_ms"] == nil {
		t.Errorf("access line = %v, want GET /v1/me 200 with a duration", got)
	}
	if got, _ := lines[0]["peer"].(string); got == "" {
		t.Errorf("access line = %v, want the caller's address as peer", lines[0])
	}
}

func TestNewChecksItsInputs(t *testing.T) {
	t.Parallel()
	st := gatewaytest.NewStack(t)
	if _, err := httpapi.New(nil, nil); err == nil {
		t.Errorf("New(nil, nil) error = nil, want an error")
	}
	if _, err := httpapi.New(st.Service, nil); err == nil {
		t.Errorf("New(svc, nil) error = nil, want an error")
	}
}
