package grpcclient_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"galaxy/platform/grpcclient"
	"galaxy/platform/logging"
	"galaxy/platform/testwait"
	"galaxy/platform/tracecontext"
	"galaxy/platform/tracecontext/tracecontexttest"
)

// TestMain keeps gRPC's own log lines out of the test output.
func TestMain(m *testing.M) {
	logging.RouteGRPC(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// service is a gRPC service whose health List is the call the tests make
// (Check is the health check, which never waits): it answers, or, held,
// tells that it received the call and waits for the caller to give up.
type service struct {
	*health.Server
	held     atomic.Bool
	received chan struct{}

	mu    sync.Mutex
	calls int
}

func newService() *service {
	return &service{Server: health.NewServer(), received: make(chan struct{}, 8)}
}

func (s *service) List(ctx context.Context, req *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if s.held.Load() {
		s.received <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Server.List(ctx, req)
}

func (s *service) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// serve serves s on addr, with opts, until the test ends and returns the
// bound address and two ways to stop: kill drops every connection at once,
// as a killed process does; stop takes no new call and closes once the
// calls in flight ended, as a process stopped by SIGTERM does.
func serve(t *testing.T, s *service, addr string, opts ...grpc.ServerOption) (bound string, kill, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, s)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), srv.Stop, srv.GracefulStop
}

func dial(t *testing.T, addr string) *grpcclient.Conn {
	t.Helper()
	conn, err := grpcclient.Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// call makes the tests' call within deadline.
func call(t *testing.T, conn *grpcclient.Conn, deadline time.Duration) error {
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).List(ctx, &healthpb.HealthListRequest{})
	return err
}

// check asks the health Check, which never waits.
func check(t *testing.T, conn *grpcclient.Conn) error {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// seeLoss waits until conn has seen that the service went away: its health
// check finds a new connection refused. (A call that reached the old
// connection as it closed may have been processed: it fails, and is not
// sent again.)
func seeLoss(t *testing.T, conn *grpcclient.Conn) {
	t.Helper()
	if err := testwait.Until(5*time.Second, func() error {
		if err := check(t, conn); err == nil || !strings.Contains(err.Error(), "connection refused") {
			return fmt.Errorf("health check = %v, want a refused connection", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestDialRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		addr    string
		timeout time.Duration
	}{
		{"no address", "", time.Second},
		{"no connect timeout", "127.0.0.1:1", 0},
	} {
		if _, err := grpcclient.Dial(tt.addr, tt.timeout); err == nil {
			t.Errorf("%s: Dial() = nil error", tt.name)
		}
	}
}

// TestCallsCarryTheirTrace checks that a call made in a request's trace
// passes it on, with this hop's span as the parent, and that a call
// without one sends none.
func TestCallsCarryTheirTrace(t *testing.T) {
	t.Parallel()
	got := make(chan []string, 2)
	addr, _, _ := serve(t, newService(), "127.0.0.1:0", grpc.UnaryInterceptor(
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			md, _ := metadata.FromIncomingContext(ctx)
			got <- md.Get(tracecontext.Header)
			return next(ctx, req)
		}))
	client := healthpb.NewHealthClient(dial(t, addr))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	traced := tracecontext.Continue(ctx, propagation.MapCarrier{tracecontext.Header: tracecontexttest.Valid})
	if _, err := client.List(traced, &healthpb.HealthListRequest{}); err != nil {
		t.Fatalf("List: %v", err)
	}
	sent := testwait.Receive(t, got, 5*time.Second, "the traced call")
	if len(sent) != 1 {
		t.Fatalf("traceparent metadata = %q, want one", sent)
	}
	if parsed := tracecontexttest.Parse(t, sent[0]); parsed.TraceID != tracecontexttest.TraceID || parsed.ParentID == tracecontexttest.SpanID {
		t.Errorf("sent %q, want the caller's trace %s with this hop's span as parent", sent[0], tracecontexttest.TraceID)
	}

	if _, err := client.List(ctx, &healthpb.HealthListRequest{}); err != nil {
		t.Fatalf("List: %v", err)
	}
	if sent := testwait.Receive(t, got, 5*time.Second, "the untraced call"); len(sent) != 0 {
		t.Errorf("a call without a trace sent traceparent %q", sent)
	}
}

// TestRestartIsInvisible restarts the service as a deployment does: the
// process stops and a new one binds the same address 300 ms later. A call
// made in the gap, once the loss was seen, is answered by the new process.
func TestRestartIsInvisible(t *testing.T) {
	t.Parallel()
	s := newService()
	addr, _, stop := serve(t, s, "127.0.0.1:0")
	conn := dial(t, addr)
	if err := call(t, conn, 5*time.Second); err != nil {
		t.Fatalf("call before the restart: %v", err)
	}
	stop()
	seeLoss(t, conn)
	answered := make(chan error, 1)
	go func() { answered <- call(t, conn, 5*time.Second) }()
	time.Sleep(300 * time.Millisecond) // the gap before the new process binds
	serve(t, s, addr)
	if err := testwait.Receive(t, answered, 10*time.Second, "the call made in the gap"); err != nil {
		t.Errorf("call made in the gap: %v, want it answered by the new process", err)
	}
}

// TestOutageOutlastingTheReconnectWait checks what an outage longer than
// the wait costs: a call made while the connection is being remade fails
// UNAVAILABLE once ReconnectWait has passed since the loss, well before its
// own deadline; a call made after that fails at once; and the health check
// never waits.
func TestOutageOutlastingTheReconnectWait(t *testing.T) {
	t.Parallel()
	addr, _, stop := serve(t, newService(), "127.0.0.1:0")
	conn := dial(t, addr)
	if err := call(t, conn, 5*time.Second); err != nil {
		t.Fatalf("call before the outage: %v", err)
	}
	unavailable := func(step string, err error) {
		t.Helper()
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s: %v, want UNAVAILABLE", step, err)
		}
	}

	stop()
	lost := time.Now()
	seeLoss(t, conn)
	started := time.Now()
	unavailable("health check while the connection is being remade", check(t, conn))
	if took := time.Since(started); took > 500*time.Millisecond {
		t.Errorf("the health check answered after %v, want at once", took)
	}
	const deadline = 5 * time.Second
	unavailable("call while the connection is being remade", call(t, conn, deadline))
	if took := time.Since(lost); took < grpcclient.ReconnectWait-100*time.Millisecond || took > grpcclient.ReconnectWait+time.Second {
		t.Errorf("a call made while the connection was being remade answered %v after the loss, want about the %v wait (its deadline: %v)",
			took, grpcclient.ReconnectWait, deadline)
	}
	started = time.Now()
	unavailable("call after the wait", call(t, conn, deadline))
	if took := time.Since(started); took > 500*time.Millisecond {
		t.Errorf("a call made after the wait answered after %v, want at once", took)
	}
}

// TestACallCutInFlightIsNotSentAgain checks that waiting for a new
// connection never sends a call twice: a call the service had received
// when its process died fails, though a new process serves at once on the
// same address, and that process never sees it.
func TestACallCutInFlightIsNotSentAgain(t *testing.T) {
	t.Parallel()
	s := newService()
	addr, kill, _ := serve(t, s, "127.0.0.1:0")
	conn := dial(t, addr)
	s.held.Store(true)
	result := make(chan error, 1)
	go func() { result <- call(t, conn, 5*time.Second) }()
	testwait.Receive(t, s.received, 5*time.Second, "the call reaching the service")
	kill()
	s.held.Store(false)
	serve(t, s, addr)
	if err := testwait.Receive(t, result, 10*time.Second, "the call's answer"); status.Code(err) != codes.Unavailable {
		t.Errorf("call cut in flight = %v, want UNAVAILABLE", err)
	}
	if n := s.callCount(); n != 1 {
		t.Errorf("the service saw the call %d times, want once", n)
	}
}
