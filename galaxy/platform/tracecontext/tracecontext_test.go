package tracecontext_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"galaxy/platform/tracecontext"
	"galaxy/platform/tracecontext/tracecontexttest"
)

const (
	traceID = tracecontexttest.TraceID
	spanID  = tracecontexttest.SpanID
	valid   = tracecontexttest.Valid
)

// parts splits a traceparent this package sent into trace id, parent id
// and flags.
func parts(t *testing.T, tp string) (traceID, parentID, flags string) {
	t.Helper()
	s := tracecontexttest.Parse(t, tp)
	return s.TraceID, s.ParentID, s.Flags
}

func continued(header ...string) context.Context {
	c := propagation.HeaderCarrier{}
	for _, h := range header {
		http.Header(c).Add(tracecontext.Header, h)
	}
	return tracecontext.Continue(context.Background(), c)
}

func TestContinueKeepsTheCallersTrace(t *testing.T) {
	t.Parallel()
	c := propagation.HeaderCarrier{}
	c.Set("traceparent", valid)
	c.Set("tracestate", "vendor=value")
	ctx := tracecontext.Continue(context.Background(), c)

	sc := trace.SpanContextFromContext(ctx)
	if got := sc.TraceID().String(); got != traceID {
		t.Errorf("trace id = %s, want the caller's %s", got, traceID)
	}
	if got := sc.SpanID().String(); got == spanID || !sc.SpanID().IsValid() {
		t.Errorf("span id = %s, want a new valid one, not the caller's %s", got, spanID)
	}
	if !sc.IsSampled() {
		t.Error("the caller's sampled flag was lost")
	}
	if got := sc.TraceState().String(); got != "vendor=value" {
		t.Errorf("tracestate = %q, want the caller's", got)
	}
	gotTrace, gotParent, gotFlags := parts(t, tracecontext.Traceparent(ctx))
	if gotTrace != traceID || gotParent != sc.SpanID().String() || gotFlags != "01" {
		t.Errorf("sent traceparent = %s-%s-%s, want %s-%s-01", gotTrace, gotParent, gotFlags, traceID, sc.SpanID())
	}
}

func TestContinueAcceptsALaterVersion(t *testing.T) {
	t.Parallel()
	// A later version's first four fields are read; what follows is its own.
	ctx := continued("cc-" + traceID + "-" + spanID + "-01-what-the-future-holds")
	if got := trace.SpanContextFromContext(ctx).TraceID().String(); got != traceID {
		t.Errorf("trace id = %s, want the caller's %s", got, traceID)
	}
	if tp := tracecontext.Traceparent(ctx); !strings.HasPrefix(tp, "00-"+traceID+"-") {
		t.Errorf("sent traceparent = %q, want version 00 of the caller's trace", tp)
	}
}

func TestContinueReplacesAMalformedTraceparent(t *testing.T) {
	t.Parallel()
	for _, tc := range tracecontexttest.Malformed {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			ctx := continued(tc.Header...)
			sc := trace.SpanContextFromContext(ctx)
			if !sc.IsValid() {
				t.Fatalf("span context %v is not valid", sc)
			}
			if got := sc.TraceID().String(); got == traceID {
				t.Errorf("trace id = %s: the malformed header's trace was continued", got)
			}
			if sc.TraceState().Len() != 0 {
				t.Errorf("tracestate %q kept from a refused traceparent", sc.TraceState())
			}
			tp := tracecontext.Traceparent(ctx)
			if _, _, flags := parts(t, tp); flags != "00" {
				t.Errorf("a new trace's flags = %s, want 00 (nothing recorded)", flags)
			}
		})
	}
}

func TestEachNewTraceIsItsOwn(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id, _, _ := parts(t, tracecontext.Traceparent(continued()))
		if seen[id] {
			t.Fatalf("trace id %s made twice", id)
		}
		seen[id] = true
	}
}

func TestTraceparentOfAContextWithoutTrace(t *testing.T) {
	t.Parallel()
	if got := tracecontext.Traceparent(context.Background()); got != "" {
		t.Errorf("Traceparent = %q, want none", got)
	}
	h := http.Header{}
	tracecontext.InjectHTTP(context.Background(), h)
	if len(h) != 0 {
		t.Errorf("InjectHTTP set %v on a request without trace", h)
	}
}

func TestHTTPContinuesTheRequestsTrace(t *testing.T) {
	t.Parallel()
	var got trace.SpanContext
	h := tracecontext.HTTP(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = trace.SpanContextFromContext(r.Context())
	}))

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Traceparent", valid)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got.TraceID().String() != traceID || got.SpanID().String() == spanID {
		t.Errorf("handler's span = %s/%s, want trace %s with a span of its own", got.TraceID(), got.SpanID(), traceID)
	}

	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Traceparent", strings.ToUpper(valid))
	h.ServeHTTP(httptest.NewRecorder(), req)
	if !got.IsValid() || got.TraceID().String() == traceID {
		t.Errorf("handler's span = %v, want a new trace for a malformed traceparent", got)
	}
}

func TestInjectHTTPSendsTheHopAsParent(t *testing.T) {
	t.Parallel()
	ctx := continued(valid)
	sc := trace.SpanContextFromContext(ctx)

	var received http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { received = r.Header.Clone() }))
	defer srv.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	tracecontext.InjectHTTP(ctx, req.Header)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	if vs := received.Values("traceparent"); len(vs) != 1 {
		t.Fatalf("traceparent headers received = %q, want one", vs)
	}
	gotTrace, gotParent, _ := parts(t, received.Get("traceparent"))
	if gotTrace != traceID || gotParent != sc.SpanID().String() {
		t.Errorf("received traceparent %s, want trace %s with parent %s (this hop)", received.Get("traceparent"), traceID, sc.SpanID())
	}
}
