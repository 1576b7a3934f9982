package grpcapi_test

import (
	"testing"

	"google.golang.org/grpc/metadata"

	"galaxy/gateway/api/gatewayv1"
	"galaxy/platform/tracecontext/tracecontexttest"
)

const startMethod = "/galaxy.gateway.v1.GatewayService/StartEmailLogin"

// startLogin starts a login with the traceparent values given (none when
// empty), expects it to succeed, and returns what the fake authsession
// received as traceparent and the call's log line.
func startLogin(t *testing.T, traceparent ...string) (tracecontexttest.Sent, map[string]any) {
	t.Helper()
	st, c := newStack(t)
	ctx := t.Context()
	for _, tp := range traceparent {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", tp)
	}
	if _, err := c.client.StartEmailLogin(ctx, &gatewayv1.StartEmailLoginRequest{Email: "user@example.com"}); err != nil {
		t.Fatalf("StartEmailLogin: %v", err)
	}
	sent := st.Auth.Traceparents()
	if len(sent) != 1 {
		t.Fatalf("authsession got traceparents %q, want one call", sent)
	}
	return tracecontexttest.Parse(t, sent[0]), callLine(t, c.logs.String(), startMethod)
}

// callLine is the one "grpc call" line of method in logs.
func callLine(t *testing.T, logs, method string) map[string]any {
	t.Helper()
	return tracecontexttest.OneLogLine(t, logs, "grpc call", "method", method)
}

func TestCallContinuesTheClientsTrace(t *testing.T) {
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

func TestCallWithAMalformedTraceparentGetsANewTrace(t *testing.T) {
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

func TestCallsWithoutTraceparentGetTracesOfTheirOwn(t *testing.T) {
	t.Parallel()
	st, c := newStack(t)
	for range 2 {
		if _, err := c.client.StartEmailLogin(t.Context(), &gatewayv1.StartEmailLoginRequest{Email: "user@example.com"}); err != nil {
			t.Fatalf("StartEmailLogin: %v", err)
		}
	}
	sent := st.Auth.Traceparents()
	if len(sent) != 2 {
		t.Fatalf("authsession got traceparents %q, want two calls", sent)
	}
	if first, second := tracecontexttest.Parse(t, sent[0]), tracecontexttest.Parse(t, sent[1]); first.TraceID == second.TraceID {
		t.Errorf("two calls share trace %s", first.TraceID)
	}
}
