package httpapi_test

import (
	"net/http"
	"testing"

	"galaxy/platform/tracecontext/tracecontexttest"
)

// startLogin starts a login with the traceparent values given (none when
// empty), expects it to succeed, and returns what the fake authsession
// received as traceparent and the request's access line.
func startLogin(t *testing.T, traceparent ...string) (tracecontexttest.Sent, map[string]any) {
	t.Helper()
	st, a := newStack(t)
	req := request{method: "POST", path: "/v1/auth/email/start", body: `{"email": "user@example.com"}`}
	if len(traceparent) > 0 {
		req.header = http.Header{"Traceparent": traceparent}
	}
	if resp, body := a.do(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d (%s), want 200", resp.StatusCode, body)
	}
	sent := st.Auth.Traceparents()
	if len(sent) != 1 {
		t.Fatalf("authsession got traceparents %q, want one call", sent)
	}
	return tracecontexttest.Parse(t, sent[0]), accessLine(t, a.logs.String(), "/v1/auth/email/start")
}

// accessLine is the one access line of path in logs.
func accessLine(t *testing.T, logs, path string) map[string]any {
	t.Helper()
	return tracecontexttest.OneLogLine(t, logs, "http request", "path", path)
}

func TestRequestContinuesTheClientsTrace(t *testing.T) {
	t.Parallel()
	sent, line := startLogin(t, tracecontexttest.Valid)
	if sent.TraceID != tracecontexttest.TraceID || sent.Flags != "01" {
		t.Errorf("authsession got %+v, want the client's trace %s, sampled", sent, tracecontexttest.TraceID)
	}
	if sent.ParentID == tracecontexttest.SpanID {
		t.Errorf("authsession got the client's span %s as parent, want the gateway's own", sent.ParentID)
	}
	tracecontexttest.WantLoggedHop(t, line, sent)
}

func TestRequestWithAMalformedTraceparentGetsANewTrace(t *testing.T) {
	t.Parallel()
	for _, tc := range tracecontexttest.Malformed {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			sent, line := startLogin(t, tc.Header...)
			if sent.TraceID == tracecontexttest.TraceID {
				t.Errorf("authsession got trace %s: the malformed traceparent was continued", sent.TraceID)
			}
			tracecontexttest.WantLoggedHop(t, line, sent)
		})
	}
}

func TestRequestsWithoutTraceparentGetTracesOfTheirOwn(t *testing.T) {
	t.Parallel()
	st, a := newStack(t)
	for range 2 {
		req := request{method: "POST", path: "/v1/auth/email/start", body: `{"email": "user@example.com"}`}
		if resp, body := a.do(t, req); resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d (%s), want 200", resp.StatusCode, body)
		}
	}
	sent := st.Auth.Traceparents()
	if len(sent) != 2 {
		t.Fatalf("authsession got traceparents %q, want two calls", sent)
	}
	if first, second := tracecontexttest.Parse(t, sent[0]), tracecontexttest.Parse(t, sent[1]); first.TraceID == second.TraceID {
		t.Errorf("two requests share trace %s", first.TraceID)
	}
}
