package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/httpapi"
	"galaxy/platform/apierror"
	"galaxy/platform/logging/logtest"
)

func TestRefreshSession(t *testing.T) {
	t.Parallel()
	st := gatewaytest.NewStack(t)
	clock := func() time.Time { return gatewaytest.AccessExpiry.Add(-10 * time.Minute) }
	a := serve(t, st.Service, httpapi.WithClock(clock))
	refresh := request{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token": "` + gatewaytest.RefreshToken + `"}`}

	resp, body := a.do(t, refresh)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
	// Exactly the shape of a confirmed login.
	got := decodeObject(t, body, "access_token", "token_type", "expires_in", "access_token_expires_at",
		"refresh_token", "refresh_token_expires_at", "session_id", "user_id")
	want := map[string]any{
		"access_token": "access-token-1", "token_type": "Bearer", "expires_in": 600.0,
		"access_token_expires_at": "2030-01-01T00:15:00Z", "refresh_token": "refresh-token-1",
		"refresh_token_expires_at": "2030-01-31T00:00:00Z", "session_id": "sess-1", "user_id": "user-1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if id := st.Auth.ClientID(); id != "127.0.0.1" {
		t.Errorf("client_id = %q, want the caller's IP 127.0.0.1", id)
	}

	// The used refresh token is refused by authsession, and that passes through.
	resp, body = a.do(t, refresh)
	wantProblem(t, resp, body, apierror.InvalidRefreshToken)
	if got := resp.Header.Get("WWW-Authenticate"); got == "" {
		t.Errorf("WWW-Authenticate is missing from a 401")
	}
	resp, body = a.do(t, request{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token": "refresh-token-1"}`})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the rotated refresh token: status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
}

// TestLogout checks that logging out ends the session at once: the token is
// refused on the next call, as is a second logout.
func TestLogout(t *testing.T) {
	t.Parallel()
	st, a := newStack(t)
	token := st.Login(t, "sess-1", "user-1")
	other := st.Login(t, "sess-2", "user-1")

	resp, body := a.do(t, request{method: "POST", path: "/v1/auth/logout", header: bearer(token)})
	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("logout: status = %d body %q, want 204 and no body", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if st.Redis.Exists(gatewaytest.Prefix + "session:sess-1") {
		t.Errorf("the session record is still in Redis")
	}
	resp, body = a.do(t, request{method: "GET", path: "/v1/me", header: bearer(token)})
	wantProblem(t, resp, body, apierror.Unauthenticated)
	resp, body = a.do(t, request{method: "POST", path: "/v1/auth/logout", header: bearer(token)})
	wantProblem(t, resp, body, apierror.Unauthenticated)
	// The user's other session lives on.
	if resp, body := a.do(t, request{method: "GET", path: "/v1/me", header: bearer(other)}); resp.StatusCode != http.StatusOK {
		t.Errorf("the other session: status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
	// A body, which logout does not take, is ignored.
	resp, body = a.do(t, request{method: "POST", path: "/v1/auth/logout", header: bearer(other), body: `{"all": true}`})
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("logout with a body: status = %d, want 204 (body %s)", resp.StatusCode, body)
	}
}

func TestListSessions(t *testing.T) {
	t.Parallel()
	st, a := newStack(t)
	base := time.Now().Truncate(time.Second)
	for i, id := range []string{"sess-a", "sess-b", "sess-c"} {
		s := gatewaytest.ActiveSession(id, "user-1")
		s.CreatedAt = base.Add(time.Duration(i-10) * time.Minute)
		gatewaytest.PutSession(t, st.Redis, s)
	}
	gatewaytest.PutSession(t, st.Redis, gatewaytest.ActiveSession("sess-z", "user-2"))
	token := st.Key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-b", time.Now()))

	resp, body := a.do(t, request{method: "GET", path: "/v1/sessions", header: bearer(token)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
	decodeObject(t, body, "sessions")
	var got struct {
		Sessions []json.RawMessage `json:"sessions"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	var ids []string
	for _, raw := range got.Sessions {
		s := decodeObject(t, raw, "session_id", "created_at", "expires_at", "current")
		id, _ := s["session_id"].(string)
		ids = append(ids, id)
		if s["current"] != (id == "sess-b") {
			t.Errorf("%s: current = %v, want %v", id, s["current"], id == "sess-b")
		}
		for _, field := range []string{"created_at", "expires_at"} {
			v, _ := s[field].(string)
			if ts, err := time.Parse(time.RFC3339, v); err != nil || !strings.HasSuffix(v, "Z") || ts.IsZero() {
				t.Errorf("%s: %s = %q, want an RFC 3339 UTC time", id, field, v)
			}
		}
	}
	if want := []string{"sess-c", "sess-b", "sess-a"}; !slices.Equal(ids, want) {
		t.Errorf("sessions = %q, want user-1's, newest first: %q", ids, want)
	}
}

func TestListSessionsEmpty(t *testing.T) {
	t.Parallel()
	st, a := newStack(t)
	token := st.Login(t, "sess-1", "user-1")
	st.Auth.OnList(func(context.Context, *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error) {
		return &authsessionv1.ListSessionsResponse{}, nil
	})
	resp, body := a.do(t, request{method: "GET", path: "/v1/sessions", header: bearer(token)})
	if resp.StatusCode != http.StatusOK || string(body) != `{"sessions":[]}` {
		t.Errorf("GET /v1/sessions = %d %s, want 200 {\"sessions\":[]}", resp.StatusCode, body)
	}
}

func TestRevokeSession(t *testing.T) {
	t.Parallel()
	st, a := newStack(t)
	token := st.Login(t, "sess-1", "user-1")
	st.Login(t, "sess-2", "user-1")
	st.Login(t, "sess-9", "user-2")
	revoke := func(id string) (*http.Response, []byte) {
		return a.do(t, request{method: "DELETE", path: "/v1/sessions/" + id, header: bearer(token)})
	}

	if resp, body := revoke("sess-2"); resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("revoke sess-2: status = %d body %q, want 204 and no body", resp.StatusCode, body)
	}
	if st.Redis.Exists(gatewaytest.Prefix + "session:sess-2") {
		t.Errorf("sess-2 is still in Redis")
	}
	for _, id := range []string{"sess-2", "sess-9", "no-such-session"} {
		resp, body := revoke(id)
		wantProblem(t, resp, body, apierror.SessionNotFound)
	}
	if !st.Redis.Exists(gatewaytest.Prefix + "session:sess-9") {
		t.Errorf("user-2's session was revoked by user-1")
	}
	// Revoking one's own current session is a logout.
	if resp, body := revoke("sess-1"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke the current session: status = %d, want 204 (body %s)", resp.StatusCode, body)
	}
	resp, body := a.do(t, request{method: "GET", path: "/v1/me", header: bearer(token)})
	wantProblem(t, resp, body, apierror.Unauthenticated)
}

// authCalls are the calls that need a bearer token, by name.
var authCalls = []struct {
	name string
	req  request
}{
	{"me", request{method: "GET", path: "/v1/me"}},
	{"logout", request{method: "POST", path: "/v1/auth/logout"}},
	{"list", request{method: "GET", path: "/v1/sessions"}},
	{"revoke", request{method: "DELETE", path: "/v1/sessions/sess-1"}},
}

// TestTokenRequired checks that every call needing a bearer token refuses a
// missing, bad or dead one without asking authsession.
func TestTokenRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header func(t *testing.T, st *gatewaytest.Stack) http.Header
	}{
		{"no token", func(*testing.T, *gatewaytest.Stack) http.Header { return nil }},
		{"garbage", func(*testing.T, *gatewaytest.Stack) http.Header { return bearer("not.a.token") }},
		{"Basic", func(*testing.T, *gatewaytest.Stack) http.Header {
			return http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}
		}},
		{"signed by another key", func(t *testing.T, _ *gatewaytest.Stack) http.Header {
			return bearer(gatewaytest.NewKey(t, "key-1").Sign(t, gatewaytest.AccessClaims("user-1", "sess-1", time.Now())))
		}},
		{"revoked session", func(t *testing.T, st *gatewaytest.Stack) http.Header {
			s := gatewaytest.ActiveSession("sess-1", "user-1")
			s.Status = "revoked"
			gatewaytest.PutSession(t, st.Redis, s)
			return bearer(st.Key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-1", time.Now())))
		}},
		{"deleted session", func(t *testing.T, st *gatewaytest.Stack) http.Header {
			return bearer(st.Key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-1", time.Now())))
		}},
	}
	for _, tt := range tests {
		for _, c := range authCalls {
			t.Run(tt.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				st, a := newStack(t)
				req := c.req
				req.header = tt.header(t, st)
				resp, body := a.do(t, req)
				wantProblem(t, resp, body, apierror.Unauthenticated)
				if calls := st.Auth.Calls(); len(calls) != 0 {
					t.Errorf("authsession calls = %q, want none", calls)
				}
			})
		}
	}
}

// TestSessionErrorsPassThrough checks that authsession's answers to the
// authenticated calls reach the caller unchanged, but for a logout whose
// session authsession no longer knows: its token is refused.
func TestSessionErrorsPassThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		want    map[string]apierror.Code // by call; "" is the default
		wantDep string
	}{
		{"session not found", gatewaytest.Fail(apierror.SessionNotFound, "gone", nil),
			map[string]apierror.Code{"": apierror.SessionNotFound, "logout": apierror.Unauthenticated}, ""},
		{"redis down at authsession", gatewaytest.Fail(apierror.DependencyUnavailable, "redis is unavailable", map[string]string{"dependency": "redis"}),
			map[string]apierror.Code{"": apierror.DependencyUnavailable}, "redis"},
		{"internal", gatewaytest.Fail(apierror.Internal, "bug", nil),
			map[string]apierror.Code{"": apierror.Internal}, ""},
	}
	for _, tt := range tests {
		for _, c := range authCalls[1:] {
			t.Run(tt.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				st, a := newStack(t)
				req := c.req
				req.header = bearer(st.Login(t, "sess-1", "user-1"))
				st.Auth.FailWith(tt.err)
				resp, body := a.do(t, req)
				want, ok := tt.want[c.name]
				if !ok {
					want = tt.want[""]
				}
				p := wantProblem(t, resp, body, want)
				if got := p.Metadata["dependency"]; want == apierror.DependencyUnavailable && got != tt.wantDep {
					t.Errorf("metadata.dependency = %q, want %q", got, tt.wantDep)
				}
			})
		}
	}
}

// TestUpstreamUnavailable checks that every route that calls authsession
// answers 503 naming it when authsession is unreachable.
func TestUpstreamUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  request
		auth bool // needs a bearer token
	}{
		{"refresh", request{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token": "r"}`}, false},
		{"logout", request{method: "POST", path: "/v1/auth/logout"}, true},
		{"list", request{method: "GET", path: "/v1/sessions"}, true},
		{"revoke", request{method: "DELETE", path: "/v1/sessions/sess-2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, a := newStack(t, gatewaytest.WithAuthAddr(gatewaytest.DeadAddr(t)))
			req := tt.req
			if tt.auth {
				req.header = bearer(st.Login(t, "sess-1", "user-1"))
			}
			start := time.Now()
			resp, body := a.do(t, req)
			if elapsed := time.Since(start); elapsed > gatewaytest.AuthTimeout+time.Second {
				t.Errorf("answered after %v, want within %v", elapsed, gatewaytest.AuthTimeout+time.Second)
			}
			p := wantProblem(t, resp, body, apierror.DependencyUnavailable)
			if got := p.Metadata["dependency"]; got != "authsession" {
				t.Errorf("metadata.dependency = %q, want authsession", got)
			}
		})
	}
}

// TestNoSecretInLogs runs every route, failing and succeeding, and checks
// that no token or code reaches a log line.
func TestNoSecretInLogs(t *testing.T) {
	t.Parallel()
	st, a := newStack(t)
	token := st.Login(t, "sess-1", "user-1")
	other := st.Login(t, "sess-2", "user-1")
	dead := st.Key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-dead", time.Now()))
	for _, req := range []request{
		{method: "POST", path: "/v1/auth/email/confirm", body: `{"challenge_id": "ch-1", "code": "987654"}`},
		{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token": "` + gatewaytest.RefreshToken + `"}`},
		{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token": "` + gatewaytest.RefreshToken + `"}`}, // a replay
		{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token": "unknown-refresh-secret", "x": 1}`},
		{method: "GET", path: "/v1/sessions", header: bearer(token)},
		{method: "GET", path: "/v1/sessions", header: bearer(dead)},
		{method: "DELETE", path: "/v1/sessions/sess-2", header: bearer(token)},
		{method: "DELETE", path: "/v1/sessions/sess-2", header: bearer(other)},
		{method: "POST", path: "/v1/auth/logout", header: bearer(token)},
		{method: "POST", path: "/v1/auth/logout", header: bearer(token)},
	} {
		a.do(t, req)
	}
	st.Auth.FailWith(gatewaytest.Fail(apierror.Internal, "bug", nil)) // failures logged with their cause
	a.do(t, request{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token": "refresh-token-1"}`})

	logs := logtest.Untraced(a.logs.String())
	for _, secret := range []string{token, other, dead, "987654", "access-token", "refresh-token", "unknown-refresh-secret"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold %q:\n%s", secret, logs)
		}
	}
	if n := strings.Count(logs, `"msg":"http request"`); n != 11 {
		t.Errorf("access lines = %d, want 11:\n%s", n, logs)
	}
}

// TestAuthsessionTextNotLogged checks that authsession failures whose text
// echoes the request's code or refresh token leave it out of the logs, which
// still record the failure, and out of the answer.
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
			st, a := newStack(t)
			st.Auth.FailWith(fail)
			var bodies []string
			for _, req := range []request{
				{method: "POST", path: "/v1/auth/email/confirm", body: `{"challenge_id": "ch-1", "code": "` + code + `"}`},
				{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token": "` + refresh + `"}`},
			} {
				_, body := a.do(t, req)
				bodies = append(bodies, string(body))
			}
			logs := a.logs.String()
			for _, secret := range []string{code, refresh} {
				if strings.Contains(logs, secret) {
					t.Errorf("logs hold %q:\n%s", secret, logs)
				}
				for _, body := range bodies {
					if strings.Contains(body, secret) {
						t.Errorf("answer %s holds %q", body, secret)
					}
				}
			}
			if n := strings.Count(logs, `"msg":"request failed"`); n != 2 {
				t.Errorf("failure lines = %d, want 2:\n%s", n, logs)
			}
		})
	}
}
