package service_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/grpclog"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"galaxy/platform/apierror"
	"galaxy/platform/envconfig"
	"galaxy/platform/httpserver"
	"galaxy/platform/lifecycle"
	"galaxy/platform/logging"
	"galaxy/platform/logging/logtest"
	"galaxy/platform/readiness"
	"galaxy/platform/readyfile"
	"galaxy/platform/service"
	"galaxy/platform/testwait"
)

// TestMain installs gRPC's log route before any test makes a gRPC client
// or server: service.New switches it, and only its first call writes the
// library's logger.
func TestMain(m *testing.M) {
	logging.RouteGRPC(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

func TestReadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		want     service.Settings
		problems []string // the variables named, in order
	}{
		{"defaults", nil, service.Settings{
			Prefix: "ORDERS", LogLevel: "info", ReadyTimeout: 300 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
		}, nil},
		{"every setting", map[string]string{
			"ORDERS_LOG_LEVEL": "debug", "ORDERS_READY_FILE": "/run/ready.json",
			"ORDERS_READY_TIMEOUT": "1s", "ORDERS_SHUTDOWN_TIMEOUT": "30s",
		}, service.Settings{
			Prefix: "ORDERS", LogLevel: "debug", ReadyFile: "/run/ready.json", ReadyTimeout: time.Second, ShutdownTimeout: 30 * time.Second,
		}, nil},
		{"bad values", map[string]string{
			"ORDERS_LOG_LEVEL": "loud", "ORDERS_READY_TIMEOUT": "0s", "ORDERS_SHUTDOWN_TIMEOUT": "soon",
		}, service.Settings{}, []string{"ORDERS_READY_TIMEOUT", "ORDERS_SHUTDOWN_TIMEOUT", "ORDERS_LOG_LEVEL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := envconfig.New(envconfig.Map(tt.env))
			got := service.ReadSettings(r, "ORDERS", 300*time.Millisecond)
			err := r.Err()
			if tt.problems == nil {
				if err != nil || got != tt.want {
					t.Errorf("ReadSettings() = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			var cfgErr *envconfig.Error
			if !errors.As(err, &cfgErr) || len(cfgErr.Problems) != len(tt.problems) {
				t.Fatalf("problems = %v, want one per %v", err, tt.problems)
			}
			for i, v := range tt.problems {
				if !strings.Contains(cfgErr.Problems[i].Error(), v) {
					t.Errorf("problem %q does not name %s", cfgErr.Problems[i], v)
				}
			}
		})
	}
}

func settings(t *testing.T) service.Settings {
	return service.Settings{
		Prefix: "TEST", LogLevel: "info", ReadyFile: filepath.Join(t.TempDir(), "ready.json"),
		ReadyTimeout: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		svc    string
		edit   func(*service.Settings)
		config bool // a configuration error, naming TEST_LOG_LEVEL
	}{
		{"no name", "", func(*service.Settings) {}, false},
		{"no ready timeout", "test", func(s *service.Settings) { s.ReadyTimeout = 0 }, false},
		{"no shutdown timeout", "test", func(s *service.Settings) { s.ShutdownTimeout = 0 }, false},
		{"an unknown log level", "test", func(s *service.Settings) { s.LogLevel = "loud" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := settings(t)
			tt.edit(&s)
			_, err := service.New(tt.svc, s, service.WithLogOutput(io.Discard))
			var cfgErr *envconfig.Error
			if err == nil || errors.As(err, &cfgErr) != tt.config || (tt.config && !strings.Contains(err.Error(), "TEST_LOG_LEVEL")) {
				t.Errorf("New() = %v; want an error, a configuration error naming TEST_LOG_LEVEL: %v", err, tt.config)
			}
		})
	}
}

// TestNewRoutesTheLibrariesLogs checks that gRPC's own log lines go to the
// service's logger as JSON. It does not run in parallel: the route is
// process-wide, and another test's New would switch it.
func TestNewRoutesTheLibrariesLogs(t *testing.T) {
	logs := &logtest.Buffer{}
	if _, err := service.New("test", settings(t), service.WithLogOutput(logs)); err != nil {
		t.Fatal(err)
	}
	grpclog.Warning("a gRPC complaint")
	var line map[string]any
	if err := json.Unmarshal([]byte(logs.String()), &line); err != nil || line["component"] != "grpc" || line["service"] != "test" {
		t.Errorf("logs = %q, want gRPC's line as JSON of the service, component grpc", logs.String())
	}
}

// testService is a gRPC service to register beside health.
const testService = "galaxy.test.v1.TestService"

// switchable is a dependency whose answer a test sets.
type switchable struct{ down atomic.Bool }

func (s *switchable) check(context.Context) error {
	if s.down.Load() {
		return errors.New("dependency down")
	}
	return nil
}

// running is a service run with an HTTP server and a gRPC server.
type running struct {
	svc     *service.Service
	doc     readyfile.Document
	health  healthpb.HealthClient
	held    chan struct{} // closed: the held HTTP calls answer
	arrived chan struct{} // one per held HTTP call that reached its handler
	cancel  context.CancelFunc
	done    chan error
	logs    *logtest.Buffer
}

// run runs a service whose hard dependency is dep, with an HTTP server
// (the probes of platform/httpserver, GET /readyz answering Ready; GET
// /held waits until r.held is closed) and a gRPC server with testService.
func run(t *testing.T, s service.Settings, deps ...readiness.Dependency) *running {
	t.Helper()
	return runWith(t, s, func(*service.Service) {}, deps...)
}

// runWith is run with prepare called on the service before Run.
func runWith(t *testing.T, s service.Settings, prepare func(*service.Service), deps ...readiness.Dependency) *running {
	t.Helper()
	r := &running{held: make(chan struct{}), arrived: make(chan struct{}, 8), done: make(chan error, 1), logs: &logtest.Buffer{}}
	svc, err := service.New("test", s, service.WithLogOutput(r.logs))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Depend(deps...); err != nil {
		t.Fatal(err)
	}
	prepare(svc)
	r.svc = svc
	routes := httpserver.Probes(svc.Logger(), svc.Ready)
	routes["GET /held"] = func(w http.ResponseWriter, req *http.Request) {
		r.arrived <- struct{}{}
		select {
		case <-r.held:
			io.WriteString(w, "done")
		case <-req.Context().Done():
		}
	}
	api, err := httpserver.Handler(svc.Logger(), routes)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	gs.RegisterService(&grpc.ServiceDesc{ServiceName: testService, HandlerType: (*any)(nil)}, struct{}{})

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- svc.Run(ctx, service.HTTP("http", "127.0.0.1:0", api, time.Second), service.GRPC("grpc", "127.0.0.1:0", gs))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.held:
		default:
			close(r.held)
		}
		testwait.Receive(t, r.done, 10*time.Second, "Run's return")
	})
	r.doc = testwait.ReadyFile(t, s.ReadyFile, 10*time.Second, r.done, r.logs)
	cc, err := grpc.NewClient(r.doc.Addresses["grpc"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	r.health = healthpb.NewHealthClient(cc)
	return r
}

// result stops waiting for Run after d and returns its result.
func (r *running) result(t *testing.T, d time.Duration) error {
	t.Helper()
	err := testwait.Receive(t, r.done, d, "Run's return")
	r.done <- err // for the cleanup
	return err
}

// readyz asks GET /readyz on a connection of its own: the status and the
// problem's metadata.dependency.
func (r *running) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + r.doc.Addresses["http"] + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, dependency(t, resp)
}

func dependency(t *testing.T, resp *http.Response) string {
	t.Helper()
	var p apierror.Problem
	if resp.StatusCode != http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Errorf("a %d without a problem document: %v", resp.StatusCode, err)
		}
	}
	return p.Metadata["dependency"]
}

func (r *running) check(t *testing.T, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := r.health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health Check(%q): %v", service, err)
	}
	return resp.GetStatus()
}

// TestRunServesWithHealthFollowingReady checks a run binary: the ready file
// names every server, and gRPC health, for "" and every service of the
// server, answers what Ready answers, as the HTTP probe built on Ready does.
func TestRunServesWithHealthFollowingReady(t *testing.T) {
	t.Parallel()
	var dep switchable
	r := run(t, settings(t), readiness.Dependency{Name: "redis", Check: dep.check})
	if r.doc.Service != "test" || r.doc.PID != os.Getpid() || r.doc.Addresses["http"] == "" || r.doc.Addresses["grpc"] == "" {
		t.Fatalf("ready file = %+v, want service test, this pid, an http and a grpc address", r.doc)
	}
	for _, step := range []struct {
		down       bool
		wantStatus int
		wantDep    string
		wantHealth healthpb.HealthCheckResponse_ServingStatus
	}{
		{false, http.StatusOK, "", healthpb.HealthCheckResponse_SERVING},
		{true, http.StatusServiceUnavailable, "redis", healthpb.HealthCheckResponse_NOT_SERVING},
		{false, http.StatusOK, "", healthpb.HealthCheckResponse_SERVING},
	} {
		dep.down.Store(step.down)
		if status, name := r.readyz(t); status != step.wantStatus || name != step.wantDep {
			t.Errorf("redis down=%v: /readyz = %d naming %q, want %d naming %q", step.down, status, name, step.wantStatus, step.wantDep)
		}
		for _, service := range []string{"", testService} {
			if got := r.check(t, service); got != step.wantHealth {
				t.Errorf("redis down=%v: health Check(%q) = %s, want %s", step.down, service, got, step.wantHealth)
			}
		}
	}
	r.cancel()
	if err := r.result(t, 10*time.Second); err != nil {
		t.Errorf("Run() = %v after cancellation, want nil", err)
	}
}

// gate is a dependency whose check, once armed, waits until released.
type gate struct {
	armed    atomic.Bool
	entered  chan struct{}
	released chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 8), released: make(chan struct{})} }

func (g *gate) check(ctx context.Context) error {
	if !g.armed.Load() {
		return nil
	}
	g.entered <- struct{}{}
	select {
	case <-g.released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestRunDrainRefusesNewWorkAndFailsReady checks what callers see once the
// drain began, with an HTTP call in flight to keep it going: gRPC health
// reports NOT_SERVING; a request sent on a connection opened before the
// drain is not served (net/http closes the connection unanswered), so
// /readyz cannot be reached any more; and a /readyz already in flight,
// whose dependencies answered after the drain began, answers 503 naming
// the service itself.
func TestRunDrainRefusesNewWorkAndFailsReady(t *testing.T) {
	t.Parallel()
	s := settings(t)
	s.ReadyTimeout = 5 * time.Second // the gated check is not cut by the bound
	dep := newGate()
	r := run(t, s, readiness.Dependency{Name: "gated", Check: dep.check})
	probe, err := net.Dial("tcp", r.doc.Addresses["http"])
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	watchCtx, endWatch := context.WithCancel(t.Context())
	defer endWatch()
	watch, err := r.health.Watch(watchCtx, &healthpb.HealthCheckRequest{Service: testService})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch before the drain = %v, %v; want SERVING", resp, err)
	}
	go http.Get("http://" + r.doc.Addresses["http"] + "/held")
	testwait.Receive(t, r.arrived, 5*time.Second, "the held call reaching its handler")
	dep.armed.Store(true)
	type answer struct {
		status     int
		dependency string
		closed     bool
	}
	readyz := make(chan answer, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + r.doc.Addresses["http"] + "/readyz")
		if err != nil {
			readyz <- answer{}
			return
		}
		defer resp.Body.Close()
		readyz <- answer{resp.StatusCode, dependency(t, resp), resp.Close}
	}()
	testwait.Receive(t, dep.entered, 5*time.Second, "the /readyz check reaching the dependency")

	r.cancel()
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("Watch once the drain began = %v, %v; want NOT_SERVING", resp, err)
	}
	endWatch()
	fmt.Fprintf(probe, "GET /readyz HTTP/1.1\r\nHost: test\r\n\r\n")
	probe.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(probe), nil); err == nil {
		resp.Body.Close()
		t.Errorf("a request sent during the drain was answered %d, want the connection closed unanswered", resp.StatusCode)
	}
	close(dep.released)
	if got, want := testwait.Receive(t, readyz, 5*time.Second, "the /readyz in flight"), (answer{http.StatusServiceUnavailable, "test", true}); got != want {
		t.Errorf("the /readyz in flight when the drain began = %+v, want %+v (503 naming the service, connection closed)", got, want)
	}
	if err := r.svc.Ready(t.Context()); !apierror.Is(err, apierror.DependencyUnavailable) || !strings.Contains(err.Error(), "test is shutting down") {
		t.Errorf("Ready() during the drain = %v, want DEPENDENCY_UNAVAILABLE: test is shutting down", err)
	}

	close(r.held)
	if err := r.result(t, 10*time.Second); err != nil {
		t.Errorf("Run() = %v after a drain within the timeout, want nil", err)
	}
}

// TestRunNamesTheShutdownTimeoutOfACutDrain checks that a drain cut at the
// shutdown timeout names the setting.
func TestRunNamesTheShutdownTimeoutOfACutDrain(t *testing.T) {
	t.Parallel()
	s := settings(t)
	s.ShutdownTimeout = 200 * time.Millisecond
	r := run(t, s)
	go http.Get("http://" + r.doc.Addresses["http"] + "/held")
	testwait.Receive(t, r.arrived, 5*time.Second, "the held call reaching its handler")
	r.cancel()
	err := r.result(t, 10*time.Second)
	if !errors.Is(err, lifecycle.ErrDrainCut) || !strings.Contains(err.Error(), "TEST_SHUTDOWN_TIMEOUT=200ms") {
		t.Errorf("Run() = %v, want ErrDrainCut naming TEST_SHUTDOWN_TIMEOUT=200ms", err)
	}
}

// TestRunListensFirst checks that a listener that cannot open stops Run
// before anything serves: no ready file, and the listeners it had opened
// are closed again.
func TestRunListensFirst(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()

	s := settings(t)
	svc, err := service.New("test", s, service.WithLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	var worked atomic.Bool
	svc.Background(func(context.Context) { worked.Store(true) })
	err = svc.Run(t.Context(), service.HTTP("http", freeAddr, http.NotFoundHandler(), time.Second), service.GRPC("grpc", busy.Addr().String(), grpc.NewServer()))
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Run() = %v, want the address in use", err)
	}
	if _, err := os.Stat(s.ReadyFile); err == nil {
		t.Error("a ready file was written although a listener failed")
	}
	if worked.Load() {
		t.Error("the background work started although a listener failed")
	}
	ln, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Errorf("the listener Run opened before the failure is still open: %v", err)
	} else {
		ln.Close()
	}
}

// TestBackgroundWorkOutlastsTheDrain checks the life of a binary's
// background work: it runs while the servers serve and while they drain
// (a call still in flight), and Run returns only once it has ended, after
// the drain.
func TestBackgroundWorkOutlastsTheDrain(t *testing.T) {
	t.Parallel()
	started := make(chan context.Context, 1)
	var ended atomic.Bool
	r := runWith(t, settings(t), func(svc *service.Service) {
		svc.Background(func(ctx context.Context) {
			started <- ctx
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // Run waits for the work to end
			ended.Store(true)
		})
	})
	work := testwait.Receive(t, started, 5*time.Second, "the background work's start")
	go http.Get("http://" + r.doc.Addresses["http"] + "/held")
	testwait.Receive(t, r.arrived, 5*time.Second, "the held call reaching its handler")

	r.cancel()
	if err := testwait.Until(5*time.Second, func() error {
		if r.svc.Ready(t.Context()) == nil {
			return errors.New("Ready() passes: the drain has not begun")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := work.Err(); err != nil {
		t.Errorf("the work's context ended (%v) while a call was still draining", err)
	}
	close(r.held)
	if err := r.result(t, 10*time.Second); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	if work.Err() == nil || !ended.Load() {
		t.Errorf("Run returned with the work's context live (%v) or the work under way (ended %v)", work.Err(), ended.Load())
	}
}

func TestDependRefuses(t *testing.T) {
	t.Parallel()
	svc, err := service.New("test", settings(t), service.WithLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Depend(readiness.Dependency{Name: "redis"}); err == nil {
		t.Error("Depend(a dependency without a check) = nil, want an error")
	}
	if err := svc.Depend(); err != nil {
		t.Fatalf("Depend() = %v", err)
	}
	if err := svc.Depend(); err == nil {
		t.Error("Depend() a second time = nil, want an error")
	}
}

// TestCheckAtStart checks the start-up check: a dependency that is away is
// reported once, without holding serving back while its check hangs; one
// that answers is not; and a check still running when Run returns ends
// silently.
func TestCheckAtStart(t *testing.T) {
	t.Parallel()
	hang := func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}
	tests := []struct {
		name  string
		check func(context.Context) error
		warns bool
	}{
		{"away", func(context.Context) error { return errors.New("connection refused") }, true},
		{"answers", func(context.Context) error { return nil }, false},
		{"hangs past its bound", hang, true},
		{"hangs until Run returns", hang, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &logtest.Buffer{}
			s := settings(t)
			svc, err := service.New("test", s, service.WithLogOutput(logs))
			if err != nil {
				t.Fatal(err)
			}
			svc.CheckAtStart(readiness.Dependency{Name: "redis", Check: tt.check})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			started := time.Now()
			go func() { done <- svc.Run(ctx, service.HTTP("http", "127.0.0.1:0", http.NotFoundHandler(), time.Second)) }()
			testwait.ReadyFile(t, s.ReadyFile, 5*time.Second, done, logs)
			if took := time.Since(started); took > time.Second {
				t.Errorf("ready %v after the start, want it without waiting on the check", took)
			}
			warned := func() error {
				if !strings.Contains(logs.String(), "redis is not reachable yet") {
					return errors.New("no warning")
				}
				return nil
			}
			if tt.warns {
				if err := testwait.Until(5*time.Second, warned); err != nil {
					t.Errorf("logs = %s, want the warning", logs)
				}
			}
			cancel() // Run returns once the check has ended
			testwait.Receive(t, done, 5*time.Second, "Run's return")
			if !tt.warns && warned() == nil {
				t.Errorf("logs = %s, want no warning", logs)
			}
		})
	}
}
