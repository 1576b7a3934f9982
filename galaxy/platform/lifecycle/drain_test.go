package lifecycle_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
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

// held is an HTTP handler whose calls wait until released (or until their
// request is cut), telling the test when each one has arrived.
type held struct {
	arrived chan struct{}
	release chan struct{}
}

func newHeld() *held { return &held{arrived: make(chan struct{}, 16), release: make(chan struct{})} }

func (h *held) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.arrived <- struct{}{}
	select {
	case <-h.release:
		io.WriteString(w, "done")
	case <-r.Context().Done():
	}
}

// drainStack is an HTTP server whose calls are held and a gRPC server with
// health, run by lifecycle.Run until cancel.
type drainStack struct {
	held     *held
	httpAddr string
	grpcAddr string
	cancel   context.CancelFunc
	done     chan error
}

func runDrainStack(t *testing.T, shutdownTimeout time.Duration) *drainStack {
	t.Helper()
	h := newHeld()
	httpLn, err := lifecycle.Listen("http", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcLn, err := lifecycle.Listen("grpc", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	health := lifecycle.RegisterHealth(gs, nil, "galaxy.test.v1.TestService")
	ctx, cancel := context.WithCancel(context.Background())
	s := &drainStack{held: h, httpAddr: httpLn.Addr().String(), grpcAddr: grpcLn.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- lifecycle.Run(ctx, lifecycle.Options{
			Service: "test", ShutdownTimeout: shutdownTimeout, ShutdownSetting: "TEST_SHUTDOWN_TIMEOUT",
			Logger: slog.New(slog.DiscardHandler),
		},
			// HTTP first: the order in which the old code drained one after another.
			lifecycle.HTTP("http", httpLn, &http.Server{Handler: h}),
			health.Serve("grpc", grpcLn, gs),
		)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.release:
		default:
			close(h.release)
		}
		testwait.Receive(t, s.done, 10*time.Second, "Run's return")
	})
	return s
}

// call makes one HTTP call on a connection of its own and sends its
// response (or error) to the returned channel.
func (s *drainStack) call() <-chan *http.Response {
	c := make(chan *http.Response, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: false}, Timeout: 10 * time.Second}
		resp, err := client.Get("http://" + s.httpAddr + "/")
		if err != nil {
			c <- nil
			return
		}
		resp.Body.Close()
		c <- resp
	}()
	return c
}

func dialHealth(t *testing.T, addr string) healthpb.HealthClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return healthpb.NewHealthClient(cc)
}

// TestRunDrainsEveryServerAtOnce checks that an HTTP call in flight keeps
// no other server serving: once Run is cancelled, gRPC health reports
// NOT_SERVING and new gRPC calls and HTTP connections are refused while
// the HTTP call is still being answered; that call then completes, with
// keep-alive ended. Drained one server after another, the gRPC server
// would serve until the HTTP call ended.
func TestRunDrainsEveryServerAtOnce(t *testing.T) {
	t.Parallel()
	s := runDrainStack(t, 10*time.Second)
	health := dialHealth(t, s.grpcAddr)
	watchCtx, endWatch := context.WithCancel(t.Context())
	defer endWatch()
	watch, err := health.Watch(watchCtx, &healthpb.HealthCheckRequest{Service: "galaxy.test.v1.TestService"})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch before the drain = %v, %v; want SERVING", resp, err)
	}
	inFlight := s.call()
	testwait.Receive(t, s.held.arrived, 5*time.Second, "the HTTP call reaching its handler")

	s.cancel()
	statuses := make(chan healthpb.HealthCheckResponse_ServingStatus, 1)
	go func() {
		resp, err := watch.Recv()
		if err == nil {
			statuses <- resp.GetStatus()
		}
	}()
	if got := testwait.Receive(t, statuses, 5*time.Second, "a health status after the drain began, with an HTTP call in flight"); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("Watch after the drain began = %s, want NOT_SERVING", got)
	}
	endWatch() // a stream in flight too: the gRPC server waits for it
	refused := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := dialHealth(t, s.grpcAddr).Check(ctx, &healthpb.HealthCheckRequest{})
		if code := status.Code(err); code != codes.Unavailable {
			return errors.New("a new gRPC call was answered " + code.String())
		}
		return nil
	}
	if err := testwait.Until(5*time.Second, refused); err != nil {
		t.Errorf("with an HTTP call in flight: %v, want UNAVAILABLE", err)
	}
	// The listener's socket closes once its accepting goroutine has woken:
	// until then the kernel may still queue a connection, never served.
	connecting := func() error {
		conn, err := net.DialTimeout("tcp", s.httpAddr, time.Second)
		if err != nil {
			return nil
		}
		conn.Close()
		return errors.New("a new HTTP connection was accepted")
	}
	if err := testwait.Until(5*time.Second, connecting); err != nil {
		t.Errorf("with an HTTP call in flight: %v, want it refused", err)
	}
	select {
	case <-inFlight:
		t.Fatal("the HTTP call in flight ended before it was released")
	default:
	}

	close(s.held.release)
	resp := testwait.Receive(t, inFlight, 5*time.Second, "the HTTP call in flight")
	if resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the HTTP call in flight = %v, want 200", resp)
	}
	if !resp.Close {
		t.Error("the answer drained lacks Connection: close: keep-alive was not ended")
	}
	if err := testwait.Receive(t, s.done, 5*time.Second, "Run's return"); err != nil {
		t.Errorf("Run() = %v after a drain within the timeout, want nil", err)
	}
	s.done <- nil // for the cleanup
}

// TestRunCutsADrainPastTheShutdownTimeout checks what a drain that runs
// past the shutdown timeout ends with: the call in flight is cut, Run's
// error wraps ErrDrainCut and names the timeout and the server, and the
// binary exits 1 with a "stopped" line saying so.
func TestRunCutsADrainPastTheShutdownTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	s := runDrainStack(t, timeout)
	inFlight := s.call()
	testwait.Receive(t, s.held.arrived, 5*time.Second, "the HTTP call reaching its handler")

	started := time.Now()
	s.cancel()
	err := testwait.Receive(t, s.done, 5*time.Second, "Run's return")
	s.done <- err // for the cleanup
	if took := time.Since(started); took < timeout {
		t.Errorf("Run returned %v after cancellation, before the %v shutdown timeout", took, timeout)
	}
	if !errors.Is(err, lifecycle.ErrDrainCut) || !strings.Contains(err.Error(), "TEST_SHUTDOWN_TIMEOUT="+timeout.String()) ||
		!strings.Contains(err.Error(), "http") || strings.Contains(err.Error(), "grpc") {
		t.Errorf("Run() = %v, want ErrDrainCut naming TEST_SHUTDOWN_TIMEOUT=%v and http only", err, timeout)
	}
	if resp := testwait.Receive(t, inFlight, 5*time.Second, "the HTTP call in flight"); resp != nil {
		t.Errorf("the HTTP call in flight was answered %d, want its connection cut", resp.StatusCode)
	}

	var logs bytes.Buffer
	if code := lifecycle.Exit(err, "test", io.Discard, slog.New(slog.NewJSONHandler(&logs, nil))); code != 1 {
		t.Errorf("Exit() = %d for a drain cut at the timeout, want 1", code)
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) || !strings.Contains(logs.String(), "shutdown timeout") {
		t.Errorf("log = %s, want a stopped line naming the shutdown timeout", logs.String())
	}
}
