package authsessionclient_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"galaxy/platform/tracecontext"
	"galaxy/platform/tracecontext/tracecontexttest"
	"galaxy/user/internal/authsessionclient"
	"galaxy/user/internal/authsessiontest"
	"galaxy/user/internal/userstest"
)

func TestMain(m *testing.M) {
	userstest.QuietLibraries()
	os.Exit(m.Run())
}

func client(t *testing.T, addr string) *authsessionclient.Client {
	t.Helper()
	c, err := authsessionclient.New(addr, time.Second)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRevokeAllSessionsIsAcknowledgedInTheCallersTrace(t *testing.T) {
	t.Parallel()
	fake := authsessiontest.Start(t, 0)
	fake.SetSessions("usr_1", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = tracecontext.Continue(ctx, propagation.MapCarrier{tracecontext.Header: tracecontexttest.Valid})

	n, err := client(t, fake.Addr()).RevokeAllSessions(ctx, "usr_1")
	if err != nil || n != 4 {
		t.Fatalf("RevokeAllSessions = %d, %v; want 4", n, err)
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].UserID != "usr_1" {
		t.Fatalf("calls = %+v, want one for usr_1", calls)
	}
	if sent := tracecontexttest.Parse(t, calls[0].Traceparent); sent.TraceID != tracecontexttest.TraceID || sent.ParentID == tracecontexttest.SpanID {
		t.Errorf("traceparent %q, want the caller's trace with this hop's span as parent", calls[0].Traceparent)
	}
}

func TestRevokeAllSessionsFailures(t *testing.T) {
	t.Parallel()
	refusing := authsessiontest.Start(t, 1)
	down := authsessiontest.Down(t)
	slow := authsessiontest.Start(t, 0)
	slow.Delay(time.Hour)
	tests := []struct {
		name, addr, want string
		timeout          time.Duration
	}{
		{"authsession's own error", refusing.Addr(), "DEPENDENCY_UNAVAILABLE", 5 * time.Second},
		{"down", down.Addr(), "DEPENDENCY_UNAVAILABLE", 5 * time.Second},
		{"no answer within the deadline", slow.Addr(), "DeadlineExceeded", 200 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			_, err := client(t, tc.addr).RevokeAllSessions(ctx, "usr_1")
			if err == nil || !strings.Contains(err.Error(), "authsession") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("RevokeAllSessions = %v, want an error naming authsession and %s", err, tc.want)
			}
		})
	}
}

func TestRevokeAllSessionsNeedsADeadline(t *testing.T) {
	t.Parallel()
	fake := authsessiontest.Start(t, 0)
	if _, err := client(t, fake.Addr()).RevokeAllSessions(context.Background(), "usr_1"); err == nil {
		t.Error("a call without a deadline was made")
	}
	if calls := fake.Calls(); len(calls) != 0 {
		t.Errorf("calls = %+v, want none", calls)
	}
	if _, err := authsessionclient.New("", time.Second); err == nil {
		t.Error("New accepted an empty address")
	}
}
