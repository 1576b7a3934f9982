package grpcapi_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/logging/logtest"
	"galaxy/platform/tracecontext/tracecontexttest"
)

// withTraceparent is ctx sending each of values as a traceparent.
func withTraceparent(ctx context.Context, values ...string) context.Context {
	for _, v := range values {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", v)
	}
	return ctx
}

// callLines are the "grpc call" lines of method in logs, in order.
func callLines(t *testing.T, logs *logtest.Buffer, method string) []map[string]any {
	t.Helper()
	return tracecontexttest.LogLines(t, logs.String(), "grpc call", "method", method)
}

// TestCallsPassTheirTraceToMailAndUsers follows one login: the mail service
// gets the trace of the StartEmailLogin call, the user service that of the
// ConfirmEmailLogin call, each with authsession's hop as the parent, and
// each call's line is logged in that hop.
func TestCallsPassTheirTraceToMailAndUsers(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	conn, logs := serve(t, env.Service)
	client := authsessionv1.NewAuthSessionServiceClient(conn)
	const confirmTrace = "0af7651916cd43dd8448eb211c80319c"

	start, err := client.StartEmailLogin(withTraceparent(t.Context(), tracecontexttest.Valid),
		&authsessionv1.StartEmailLoginRequest{Email: "alice@example.com", ClientId: "198.51.100.1"})
	if err != nil {
		t.Fatalf("StartEmailLogin: %v", err)
	}
	msgs := env.Mail.Messages()
	if len(msgs) != 1 {
		t.Fatalf("mail got %d messages, want 1", len(msgs))
	}
	mailed := tracecontexttest.Parse(t, msgs[0].Traceparent)
	if mailed.TraceID != tracecontexttest.TraceID || mailed.ParentID == tracecontexttest.SpanID || mailed.Flags != "01" {
		t.Errorf("mail got %+v, want the caller's trace %s, sampled, with authsession's span as parent", mailed, tracecontexttest.TraceID)
	}
	lines := callLines(t, logs, authsessionv1.AuthSessionService_StartEmailLogin_FullMethodName)
	if len(lines) != 1 {
		t.Fatalf("%d StartEmailLogin lines, want 1", len(lines))
	}
	tracecontexttest.WantLoggedHop(t, lines[0], mailed)

	code := env.Mail.CodeFor(t, start.GetChallengeId())
	if _, err := client.ConfirmEmailLogin(withTraceparent(t.Context(), "00-"+confirmTrace+"-b7ad6b7169203331-00"),
		&authsessionv1.ConfirmEmailLoginRequest{ChallengeId: start.GetChallengeId(), Code: code, ClientId: "198.51.100.1"}); err != nil {
		t.Fatalf("ConfirmEmailLogin: %v", err)
	}
	sent := env.Users.Traceparents()
	if len(sent) == 0 {
		t.Fatal("the user service got no request")
	}
	lines = callLines(t, logs, authsessionv1.AuthSessionService_ConfirmEmailLogin_FullMethodName)
	if len(lines) != 1 {
		t.Fatalf("%d ConfirmEmailLogin lines, want 1", len(lines))
	}
	for _, tp := range sent {
		resolved := tracecontexttest.Parse(t, tp)
		if resolved.TraceID != confirmTrace || resolved.Flags != "00" {
			t.Errorf("user service got %+v, want the confirming call's trace %s, not sampled", resolved, confirmTrace)
		}
		tracecontexttest.WantLoggedHop(t, lines[0], resolved)
	}
}

func TestCallWithAMalformedTraceparentPassesANewTrace(t *testing.T) {
	t.Parallel()
	for _, tc := range tracecontexttest.Malformed {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			env := authtest.New(t, authtest.Options{})
			conn, logs := serve(t, env.Service)
			client := authsessionv1.NewAuthSessionServiceClient(conn)
			if _, err := client.StartEmailLogin(withTraceparent(t.Context(), tc.Header...),
				&authsessionv1.StartEmailLoginRequest{Email: "alice@example.com", ClientId: "198.51.100.1"}); err != nil {
				t.Fatalf("StartEmailLogin: %v", err)
			}
			msgs := env.Mail.Messages()
			if len(msgs) != 1 {
				t.Fatalf("mail got %d messages, want 1", len(msgs))
			}
			mailed := tracecontexttest.Parse(t, msgs[0].Traceparent)
			if mailed.TraceID == tracecontexttest.TraceID {
				t.Errorf("mail got trace %s: the malformed traceparent was continued", mailed.TraceID)
			}
			lines := callLines(t, logs, authsessionv1.AuthSessionService_StartEmailLogin_FullMethodName)
			if len(lines) != 1 {
				t.Fatalf("%d StartEmailLogin lines, want 1", len(lines))
			}
			tracecontexttest.WantLoggedHop(t, lines[0], mailed)
		})
	}
}
