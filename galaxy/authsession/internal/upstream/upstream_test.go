package upstream_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"galaxy/authsession/internal/upstream"
	"galaxy/platform/tracecontext"
	"galaxy/platform/tracecontext/tracecontexttest"
)

// TestRequestsCarryTheCallersTrace checks that every request sends the
// trace of its context as one traceparent, this hop's span as the parent,
// and that a request made outside any trace sends none.
func TestRequestsCarryTheCallersTrace(t *testing.T) {
	t.Parallel()
	got := make(chan []string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Values("Traceparent")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	c, err := upstream.New("dep", srv.URL, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	traced := tracecontext.Continue(context.Background(), propagation.MapCarrier{"traceparent": tracecontexttest.Valid})
	want := tracecontext.Traceparent(traced)
	calls := map[string]func(context.Context) (upstream.Response, error){
		"GetJSON": func(ctx context.Context) (upstream.Response, error) { return c.GetJSON(ctx, "/x") },
		"PostJSON": func(ctx context.Context) (upstream.Response, error) {
			return c.PostJSON(ctx, "/x", nil, map[string]string{})
		},
	}
	for name, call := range calls {
		if _, err := call(traced); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tps := <-got; len(tps) != 1 || tps[0] != want {
			t.Errorf("%s sent traceparent %q, want [%s]", name, tps, want)
		} else if sent := tracecontexttest.Parse(t, tps[0]); sent.TraceID != tracecontexttest.TraceID || sent.ParentID == tracecontexttest.SpanID {
			t.Errorf("%s sent %+v, want the caller's trace with this hop as parent", name, sent)
		}
		if _, err := call(context.Background()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tps := <-got; len(tps) != 0 {
			t.Errorf("%s outside any trace sent traceparent %q", name, tps)
		}
	}
}
