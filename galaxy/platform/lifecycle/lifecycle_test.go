package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"galaxy/platform/lifecycle"
	"galaxy/platform/testwait"
)

func TestRunPublishesAddressesAndShutsDown(t *testing.T) {
	t.Parallel()
	httpLn, err := lifecycle.Listen("http", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcLn, err := lifecycle.Listen("grpc", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	servers := []lifecycle.Server{
		lifecycle.HTTP("http", httpLn, &http.Server{Handler: handler}),
		lifecycle.GRPC("grpc", grpcLn, grpc.NewServer()),
	}
	ready := filepath.Join(t.TempDir(), "ready.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- lifecycle.Run(ctx, lifecycle.Options{
			Service: "test", ReadyFile: ready, ShutdownTimeout: time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		}, servers...)
	}()

	doc := testwait.ReadyFile(t, ready, 5*time.Second, done, nil)
	if doc.PID != os.Getpid() || doc.Addresses["http"] != httpLn.Addr().String() || doc.Addresses["grpc"] != grpcLn.Addr().String() {
		t.Fatalf("ready file = %+v, want pid %d and the bound addresses", doc, os.Getpid())
	}
	resp, err := http.Get("http://" + doc.Addresses["http"])
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	resp.Body.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run() = %v, want nil after cancellation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run() did not return after cancellation")
	}
	if _, err := http.Get("http://" + doc.Addresses["http"]); err == nil {
		t.Fatal("HTTP server still answers after shutdown")
	}
}

func TestListenReportsAddressInUse(t *testing.T) {
	t.Parallel()
	ln, err := lifecycle.Listen("http", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := lifecycle.Listen("http", ln.Addr().String()); err == nil {
		t.Fatal("second Listen on a bound address succeeded, want an error")
	}
}

// healthConn serves a Health over check on loopback through the lifecycle
// server (so its status is refreshed) and dials it.
func healthConn(t *testing.T, check func(context.Context) error) (healthpb.HealthClient, lifecycle.Server) {
	t.Helper()
	srv := grpc.NewServer()
	h := lifecycle.RegisterHealth(srv, check, "galaxy.test.v1.TestService")
	ln, err := lifecycle.Listen("grpc", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := h.Serve("grpc", ln, srv)
	go ls.Serve()
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { cc.Close() })
	return healthpb.NewHealthClient(cc), ls
}

// switchable is a check whose answer a test sets.
type switchable struct{ down atomic.Bool }

func (s *switchable) check(context.Context) error {
	if s.down.Load() {
		return errors.New("dependency down")
	}
	return nil
}

func TestHealthCheckFollowsTheCheck(t *testing.T) {
	t.Parallel()
	var dep switchable
	client, _ := healthConn(t, dep.check)
	for _, step := range []struct {
		down bool
		want healthpb.HealthCheckResponse_ServingStatus
	}{
		{false, healthpb.HealthCheckResponse_SERVING},
		{true, healthpb.HealthCheckResponse_NOT_SERVING},
		{false, healthpb.HealthCheckResponse_SERVING},
	} {
		dep.down.Store(step.down)
		for _, service := range []string{"", "galaxy.test.v1.TestService"} {
			resp, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
			if err != nil || resp.GetStatus() != step.want {
				t.Errorf("dependency down=%v: Check(%q) = %v, %v; want %s", step.down, service, resp, err, step.want)
			}
		}
	}
	_, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "galaxy.unknown.v1.Nothing"})
	if got := status.Code(err); got != codes.NotFound {
		t.Errorf("Check(unknown service) code = %s, want NotFound", got)
	}
}

func TestHealthWithoutCheckServes(t *testing.T) {
	t.Parallel()
	client, _ := healthConn(t, nil)
	resp, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Check() = %v, %v; want SERVING", resp, err)
	}
}

// nextStatus reads the next status of a Watch stream, failing after a
// generous wait.
func nextStatus(t *testing.T, stream healthpb.Health_WatchClient) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	type answer struct {
		resp *healthpb.HealthCheckResponse
		err  error
	}
	c := make(chan answer, 1)
	go func() {
		resp, err := stream.Recv()
		c <- answer{resp, err}
	}()
	select {
	case a := <-c:
		if a.err != nil {
			t.Fatalf("Watch: Recv() error = %v", a.err)
		}
		return a.resp.GetStatus()
	case <-time.After(10 * time.Second):
		t.Fatal("Watch: no status change within 10s")
		return 0
	}
}

// TestHealthWatchSeesChanges checks that a watcher learns of a change with
// no Check call to trigger it, and learns of the shutdown.
func TestHealthWatchSeesChanges(t *testing.T) {
	t.Parallel()
	var dep switchable
	client, ls := healthConn(t, dep.check)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "galaxy.test.v1.TestService"})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	// The first status may be the initial NOT_SERVING or already SERVING.
	got := nextStatus(t, stream)
	if got != healthpb.HealthCheckResponse_SERVING {
		if got = nextStatus(t, stream); got != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Watch: status = %s, want SERVING with the dependency up", got)
		}
	}
	dep.down.Store(true)
	if got := nextStatus(t, stream); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch: status = %s after the dependency went down, want NOT_SERVING", got)
	}
	dep.down.Store(false)
	if got := nextStatus(t, stream); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: status = %s after the dependency came back, want SERVING", got)
	}

	shutdown := make(chan error, 1)
	go func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		shutdown <- ls.Shutdown(sctx)
	}()
	if got := nextStatus(t, stream); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("Watch: status = %s on shutdown, want NOT_SERVING", got)
	}
	cancel() // end the stream, so the server can drain
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown() = %v, want nil", err)
	}
}
