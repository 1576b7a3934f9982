package grpcclient_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"galaxy/platform/grpcclient"
	"galaxy/platform/tracecontext"
	"galaxy/platform/tracecontext/tracecontexttest"
)

// serveHealth serves grpc.health.v1 on loopback and returns its address and
// the traceparent metadata of each call it received.
func serveHealth(t *testing.T) (string, <-chan []string) {
	t.Helper()
	got := make(chan []string, 8)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		got <- md.Get(tracecontext.Header)
		return next(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), got
}

func TestCallsCarryTheirTrace(t *testing.T) {
	t.Parallel()
	addr, got := serveHealth(t)
	conn, err := grpcclient.New(addr, time.Second)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	traced := tracecontext.Continue(ctx, propagation.MapCarrier{tracecontext.Header: tracecontexttest.Valid})
	if _, err := client.Check(traced, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	sent := <-got
	if len(sent) != 1 {
		t.Fatalf("traceparent metadata = %q, want one", sent)
	}
	if parsed := tracecontexttest.Parse(t, sent[0]); parsed.TraceID != tracecontexttest.TraceID || parsed.ParentID == tracecontexttest.SpanID {
		t.Errorf("sent %q, want the caller's trace %s with this hop's span as parent", sent[0], tracecontexttest.TraceID)
	}

	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if sent := <-got; len(sent) != 0 {
		t.Errorf("a call without a trace sent traceparent %q", sent)
	}
}

func TestNewChecksItsInputs(t *testing.T) {
	t.Parallel()
	for name, call := range map[string]func() error{
		"empty address": func() error { _, err := grpcclient.New("", time.Second); return err },
		"zero timeout":  func() error { _, err := grpcclient.New("127.0.0.1:1", 0); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}
