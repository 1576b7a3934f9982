package tracecontext

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// UnaryServerInterceptor gives each call's context its hop's span
// (Continue, from the call's metadata). It comes first in a server's chain,
// so that every later interceptor, the call's log line included, sees it.
func UnaryServerInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	return next(incoming(ctx), req)
}

// StreamServerInterceptor gives each stream's context its hop's span, as
// UnaryServerInterceptor does for a call.
func StreamServerInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	return next(srv, tracedStream{ServerStream: ss, ctx: incoming(ss.Context())})
}

// UnaryClientInterceptor sends the traceparent (and any tracestate) of the
// call's context in its metadata, replacing any the context's outgoing
// metadata had; it sends none when the context carries no trace.
func UnaryClientInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(Outgoing(ctx), method, req, reply, cc, opts...)
}

// Outgoing returns ctx with outgoing metadata carrying ctx's trace, for a
// gRPC call; ctx itself when it carries no trace.
func Outgoing(ctx context.Context) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	propagator.Inject(ctx, mdCarrier(md))
	return metadata.NewOutgoingContext(ctx, md)
}

func incoming(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	return Continue(ctx, mdCarrier(md))
}

type tracedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s tracedStream) Context() context.Context { return s.ctx }

// mdCarrier is gRPC metadata as a carrier (keys are lower case).
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string      { return strings.Join(metadata.MD(c).Get(key), ",") }
func (c mdCarrier) Values(key string) []string { return metadata.MD(c).Get(key) }
func (c mdCarrier) Set(key, value string)      { metadata.MD(c).Set(key, value) }
func (c mdCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
