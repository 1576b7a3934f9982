package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/httpapi"
	"galaxy/platform/apierror"
)

// The gateway routes a request by its path as sent, never normalised and
// never redirected (contracts/errors.md, "Answers from the HTTP layer").
// The requests carry a valid token, so that one served by mistake as a
// logout or a revocation would reach authsession, which the tests check
// nothing did.

// wantAPIProblem checks that a is the API's problem document with code,
// with the headers every answer of the API carries and no redirect.
func wantAPIProblem(t *testing.T, a rawAnswer, code apierror.Code) {
	t.Helper()
	wantProblem(t, a.resp, a.body, code)
	for name, want := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Location": ""} {
		if got := a.resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// wantNoCalls checks that nothing reached authsession.
func wantNoCalls(t *testing.T, st *gatewaytest.Stack) {
	t.Helper()
	if calls := st.Auth.Calls(); len(calls) != 0 {
		t.Errorf("authsession calls = %q, want none", calls)
	}
}

func TestPathsNotSpelledAsARouteAreNotFound(t *testing.T) {
	t.Parallel()
	st := gatewaytest.NewStack(t)
	addr := serveRaw(t, st)
	token := st.Login(t, "sess-1", "user-1")
	st.Login(t, "sess-2", "user-1")
	tests := []struct{ name, method, target string }{
		{"a leading double slash", "GET", "//v1/me"},
		{"a double slash inside", "POST", "/v1/auth//logout"},
		{"a trailing slash", "POST", "/v1/auth/logout/"},
		{"a trailing slash after a session id", "DELETE", "/v1/sessions/sess-2/"},
		{"no session id", "DELETE", "/v1/sessions/"},
		{"a dot segment", "POST", "/v1/auth/./logout"},
		{"a trailing dot segment", "POST", "/v1/auth/logout/."},
		{"a dot-dot segment", "GET", "/v1/auth/../me"},
		{"a dot-dot segment back to a session", "DELETE", "/v1/sessions/../sessions/sess-2"},
		{"a dot-dot session id", "DELETE", "/v1/sessions/.."},
		{"a dot session id", "DELETE", "/v1/sessions/."},
		{"a percent-encoded dot-dot", "DELETE", "/v1/sessions/%2e%2e/sessions/sess-2"},
		{"a percent-encoded dot-dot session id", "DELETE", "/v1/sessions/%2e%2e"},
		{"a percent-encoded dot in upper case", "DELETE", "/v1/sessions/%2E"},
		{"dots half encoded", "POST", "/v1/auth/.%2E/auth/logout"},
		{"an encoded slash", "POST", "/v1/auth%2Flogout"},
		{"an encoded slash in a session id", "DELETE", "/v1/sessions/sess%2f2"},
		{"a backslash", "DELETE", "/v1/sessions/sess\\2"},
		{"an encoded backslash", "POST", "/v1/auth%5Clogout"},
		{"absolute form with a double slash", "GET", "http://gateway//v1/me"},
		{"absolute form with a dot-dot segment", "POST", "http://gateway/v1/x/../auth/logout"},
		{"absolute form without a path", "GET", "http://gateway"},
		{"the asterisk form of OPTIONS", "OPTIONS", "*"},
		{"the asterisk form of GET", "GET", "*"},
		{"the authority form of CONNECT", "CONNECT", "gateway:443"},
		{"the root", "GET", "/"},
	}
	t.Run("each", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				req := tt.method + " " + tt.target + " HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer " + token + "\r\n\r\n"
				wantAPIProblem(t, exchange(t, addr, req), apierror.NotFound)
			})
		}
	})
	wantNoCalls(t, st)
}

// TestTheHTTP2PrefaceIsNotFound sends the connection preface of HTTP/2
// without TLS, which the gateway does not speak: the request it parses as
// is answered like any path that names no route, and the connection closed.
func TestTheHTTP2PrefaceIsNotFound(t *testing.T) {
	t.Parallel()
	addr := serveRaw(t, gatewaytest.NewStack(t))
	a := exchange(t, addr, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	wantAPIProblem(t, a, apierror.NotFound)
	if !a.resp.Close || !a.closed {
		t.Errorf("Connection: close = %v, closed = %v; want the connection closed", a.resp.Close, a.closed)
	}
}

// TestRoutesAreMatchedAsSpelled pins what is served: the request-target in
// origin or absolute form (whatever its host), segments compared once
// percent-decoded, methods compared as spelled.
func TestRoutesAreMatchedAsSpelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, target string
		status               int
		allow                string
	}{
		{"origin form", "GET", "/v1/me", 200, ""},
		{"absolute form", "GET", "http://gateway/v1/me", 200, ""},
		{"absolute form naming another host", "GET", "http://elsewhere.example:8443/v1/me", 200, ""},
		{"a percent-encoded letter", "GET", "/v1/%6De", 200, ""},
		{"a query", "GET", "/v1/me?x=1", 200, ""},
		{"a method in lower case", "get", "/v1/me", 405, "GET, HEAD"},
		{"a method nobody knows", "BREW", "/v1/me", 405, "GET, HEAD"},
		{"OPTIONS on a route", "OPTIONS", "/v1/auth/logout", 405, "POST"},
		{"TRACE on a route", "TRACE", "/v1/me", 405, "GET, HEAD"},
		{"CONNECT on a route", "CONNECT", "/v1/sessions/sess-1", 405, "DELETE"},
		{"a revocation in lower case", "delete", "/v1/sessions/sess-1", 405, "DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := gatewaytest.NewStack(t)
			addr := serveRaw(t, st)
			req := tt.method + " " + tt.target + " HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer " + st.Login(t, "sess-1", "user-1") + "\r\n\r\n"
			a := exchange(t, addr, req)
			if tt.status != http.StatusOK {
				wantAPIProblem(t, a, apierror.MethodNotAllowed)
				if got := a.resp.Header.Get("Allow"); got != tt.allow {
					t.Errorf("Allow = %q, want %q", got, tt.allow)
				}
				wantNoCalls(t, st)
				return
			}
			if a.resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d (body %s)", a.resp.StatusCode, tt.status, a.body)
			}
			decodeObject(t, a.body, "user_id", "email", "session_id", "session_expires_at")
		})
	}
}

// TestNoRouteEndsInASlash keeps the mux from redirecting a path to the same
// path with a "/" added, which it does only for a pattern ending in one.
func TestNoRouteEndsInASlash(t *testing.T) {
	t.Parallel()
	for _, route := range httpapi.Routes() {
		if strings.HasSuffix(route, "/") {
			t.Errorf("route %q ends in a slash", route)
		}
	}
}
