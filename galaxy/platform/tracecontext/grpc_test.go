package tracecontext_test

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"galaxy/platform/tracecontext"
)

// seen is what a server's handler saw of a call.
type seen struct {
	traceparents []string // of the call's metadata
	span         trace.SpanContext
}

// healthServer records what each Check and Watch saw.
type healthServer struct {
	healthpb.UnimplementedHealthServer
	calls chan seen
}

func (h *healthServer) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	h.calls <- seen{md.Get(tracecontext.Header), trace.SpanContextFromContext(ctx)}
}

func (h *healthServer) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.record(ctx)
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (h *healthServer) Watch(_ *healthpb.HealthCheckRequest, ss grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	h.record(ss.Context())
	return ss.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
}

// serveTraced serves a health service behind the server interceptors and
// returns a client of it that sends through the client interceptor.
func serveTraced(t *testing.T) (healthpb.HealthClient, chan seen) {
	t.Helper()
	hs := &healthServer{calls: make(chan seen, 1)}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(tracecontext.UnaryServerInterceptor),
		grpc.StreamInterceptor(tracecontext.StreamServerInterceptor),
	)
	healthpb.RegisterHealthServer(srv, hs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(tracecontext.UnaryClientInterceptor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn), hs.calls
}

func TestGRPCCallCarriesTheTraceToTheServer(t *testing.T) {
	t.Parallel()
	client, calls := serveTraced(t)
	ctx := continued(valid)
	mine := trace.SpanContextFromContext(ctx)
	// A traceparent already in the outgoing metadata is replaced, not doubled.
	ctx = metadata.AppendToOutgoingContext(ctx, tracecontext.Header, "00-"+traceID+"-1111111111111111-01")

	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	got := <-calls
	if len(got.traceparents) != 1 {
		t.Fatalf("traceparents in the call's metadata = %q, want one", got.traceparents)
	}
	gotTrace, gotParent, _ := parts(t, got.traceparents[0])
	if gotTrace != traceID || gotParent != mine.SpanID().String() {
		t.Errorf("sent traceparent %s, want trace %s with parent %s (the caller's hop)", got.traceparents[0], traceID, mine.SpanID())
	}
	if got.span.TraceID().String() != traceID {
		t.Errorf("server's trace id = %s, want %s", got.span.TraceID(), traceID)
	}
	if got.span.SpanID() == mine.SpanID() || !got.span.SpanID().IsValid() {
		t.Errorf("server's span id = %s, want one of its own (the caller's is %s)", got.span.SpanID(), mine.SpanID())
	}
}

func TestGRPCCallWithoutTraceGetsANewOne(t *testing.T) {
	t.Parallel()
	client, calls := serveTraced(t)
	var ids []trace.TraceID
	for range 2 {
		if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("Check: %v", err)
		}
		got := <-calls
		if len(got.traceparents) != 0 {
			t.Errorf("a call made without trace sent traceparent %q", got.traceparents)
		}
		if !got.span.IsValid() {
			t.Fatalf("server's span %v is not valid", got.span)
		}
		ids = append(ids, got.span.TraceID())
	}
	if ids[0] == ids[1] {
		t.Errorf("two calls without trace share trace id %s", ids[0])
	}
}

func TestGRPCMalformedTraceparentIsReplaced(t *testing.T) {
	t.Parallel()
	client, calls := serveTraced(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), tracecontext.Header, "00-"+traceID+"-0000000000000000-01")
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	got := <-calls
	if !got.span.IsValid() || got.span.TraceID().String() == traceID {
		t.Errorf("server's span = %v, want a new trace for a malformed traceparent", got.span)
	}
}

func TestGRPCStreamContinuesTheTrace(t *testing.T) {
	t.Parallel()
	client, calls := serveTraced(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), tracecontext.Header, valid)
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("Recv: %v", err)
	}
	got := <-calls
	if got.span.TraceID().String() != traceID || got.span.SpanID().String() == spanID {
		t.Errorf("stream's span = %s/%s, want trace %s with a span of its own", got.span.TraceID(), got.span.SpanID(), traceID)
	}
}
