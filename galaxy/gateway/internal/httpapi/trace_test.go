package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"galaxy/platform/logging"
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
	var found map[string]any
	for line := range strings.Lines(logs) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["msg"] == "http request" && rec["path"] == path {
			if found != nil {
				t.Fatalf("two access lines of %s:\n%s", path, logs)
			}
			found = rec
		}
	}
	if found == nil {
		t.Fatalf("no access line of %s:\n%s", path, logs)
	}
	return found
}

// wantLoggedHop checks that line was logged in the hop that sent sent.
func wantLoggedHop(t *testing.T, line map[string]any, sent tracecontexttest.Sent) {
	t.Helper()
	if line[logging.TraceIDKey] != sent.TraceID || line[logging.SpanIDKey] != sent.ParentID {
		t.Errorf("access line %v, want %s %s and %s %s (what authsession got)",
			line, logging.TraceIDKey, sent.TraceID, logging.SpanIDKey, sent.ParentID)
	}
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
	wantLoggedHop(t, line, sent)
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
			wantLoggedHop(t, line, sent)
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
