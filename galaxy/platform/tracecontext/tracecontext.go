// Package tracecontext carries a W3C trace context (the traceparent header,
// https://www.w3.org/TR/trace-context/) through every hop of a request.
//
// A request entering a server continues the caller's trace when its
// traceparent is well formed, and starts a new trace otherwise; either way
// the hop gets a span id of its own (Continue, HTTP, the gRPC server
// interceptors). What the hop sends on carries the trace id and the hop's
// span id as the parent (InjectHTTP, the gRPC client interceptor). The
// trace context lives in the request's context as an OpenTelemetry span
// context, so the logger (platform/logging) tags each line with it. Nothing
// is recorded or exported: the trace is only correlated.
package tracecontext

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Header is the name of the W3C header, and of the gRPC metadata key, that
// carries the trace context.
const Header = "traceparent"

// propagator parses and formats traceparent and tracestate: version 00
// with lower-case hex, non-zero ids, and no more than the sampled and
// random flags; a later version's first four fields.
var propagator = propagation.TraceContext{}

// Continue returns ctx carrying this hop's span: in the trace of the
// carrier's traceparent (with its flags and tracestate) when it is there
// exactly once and well formed, in a new trace otherwise, and with a new
// span id either way.
func Continue(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	remote := trace.SpanContextFromContext(propagator.Extract(context.Background(), once{carrier}))
	cfg := trace.SpanContextConfig{SpanID: newSpanID()}
	if remote.IsValid() {
		cfg.TraceID, cfg.TraceFlags, cfg.TraceState = remote.TraceID(), remote.TraceFlags(), remote.TraceState()
	} else {
		cfg.TraceID = newTraceID()
	}
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(cfg))
}

// Traceparent is the traceparent a call made with ctx sends: ctx's trace id
// with ctx's span as the parent, or "" when ctx carries no trace.
func Traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c.Get(Header)
}

// once hides a traceparent given more than once, which names no one parent.
type once struct{ propagation.TextMapCarrier }

func (o once) Get(key string) string {
	if key == Header && len(o.values(key)) != 1 {
		return ""
	}
	return o.TextMapCarrier.Get(key)
}

// values are all of the carrier's values of key, when it can tell them.
func (o once) values(key string) []string {
	if vc, ok := o.TextMapCarrier.(propagation.ValuesGetter); ok {
		return vc.Values(key)
	}
	if v := o.TextMapCarrier.Get(key); v != "" {
		return []string{v}
	}
	return nil
}

// HTTP returns next with each request's context carrying its hop's span
// (Continue, from the request's headers).
func HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(Continue(r.Context(), headerCarrier(r.Header))))
	})
}

// InjectHTTP sets the traceparent (and any tracestate) of ctx's trace on h,
// for an outgoing request; it sets nothing when ctx carries no trace.
func InjectHTTP(ctx context.Context, h http.Header) {
	propagator.Inject(ctx, headerCarrier(h))
}

// headerCarrier is http.Header as a carrier whose Get joins a header sent
// on several lines, as a tracestate may be.
type headerCarrier http.Header

func (c headerCarrier) Get(key string) string      { return strings.Join(http.Header(c).Values(key), ",") }
func (c headerCarrier) Values(key string) []string { return http.Header(c).Values(key) }
func (c headerCarrier) Set(key, value string)      { http.Header(c).Set(key, value) }
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

func newTraceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		rand.Read(id[:]) // never fails (crypto/rand)
	}
	return id
}

func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		rand.Read(id[:])
	}
	return id
}
