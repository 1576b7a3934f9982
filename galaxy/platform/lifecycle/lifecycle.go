// Package lifecycle runs a binary's servers the same way everywhere: listen
// first (so "address in use" fails at once and port 0 works), serve, publish
// the ready file, and on cancellation drain every server at once, side by
// side, within a bound.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"galaxy/platform/envconfig"
	"galaxy/platform/readyfile"
)

// Server is one bound listener and the loop serving it.
type Server interface {
	// Name labels the address in the ready file ("http", "grpc").
	Name() string
	// Addr is the bound address, with the real port when ":0" was asked for.
	Addr() string
	// Serve blocks until the server stops; it returns nil after Shutdown.
	Serve() error
	// Shutdown stops accepting work and waits for in-flight work until ctx ends.
	Shutdown(ctx context.Context) error
}

// Listen opens a TCP listener on addr (port 0 picks a free port), or takes
// over the inherited listening socket an "fd://N" address names
// (envconfig.ListenAddr).
func Listen(name, addr string) (net.Listener, error) {
	if fd, ok, err := envconfig.InheritedFD(addr); ok {
		if err != nil {
			return nil, fmt.Errorf("listen %s on %q: %w", name, addr, err)
		}
		return inherited(name, fd)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s on %q: %w", name, addr, err)
	}
	return ln, nil
}

type httpServer struct {
	name string
	ln   net.Listener
	srv  *http.Server
}

// HTTP serves h on ln.
func HTTP(name string, ln net.Listener, srv *http.Server) Server {
	return &httpServer{name: name, ln: ln, srv: srv}
}

func (s *httpServer) Name() string { return s.name }
func (s *httpServer) Addr() string { return s.ln.Addr().String() }
func (s *httpServer) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown closes the listener and every idle connection at once, ends
// keep-alive (each answer still in flight goes out with "Connection: close"
// and its connection is closed after it) and waits for the answers until
// ctx ends; then it closes every connection still open, cutting what is in
// flight.
func (s *httpServer) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	return err
}

type grpcServer struct {
	name string
	ln   net.Listener
	srv  *grpc.Server
}

// GRPC serves srv on ln.
func GRPC(name string, ln net.Listener, srv *grpc.Server) Server {
	return &grpcServer{name: name, ln: ln, srv: srv}
}

func (s *grpcServer) Name() string { return s.name }
func (s *grpcServer) Addr() string { return s.ln.Addr().String() }
func (s *grpcServer) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Shutdown closes the listener and tells every connection to take no new
// call (GOAWAY) at once, waits for the calls in flight until ctx ends, and
// then cuts them.
func (s *grpcServer) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.srv.Stop()
		<-done
		return fmt.Errorf("grpc graceful stop: %w", ctx.Err())
	}
}

// Options configure Run.
type Options struct {
	Service         string
	ReadyFile       string // written once every server is serving; empty disables it
	ShutdownTimeout time.Duration
	// ShutdownSetting, when set, is the setting ShutdownTimeout comes from
	// ("GATEWAY_SHUTDOWN_TIMEOUT"), named by the error of a drain cut short.
	ShutdownSetting string
	Logger          *slog.Logger
	// Draining, when set, is called once as the drain begins, before any
	// server stops: a binary's readiness fails from then on.
	Draining func()
}

// ErrDrainCut is wrapped by Run's error when the shutdown timeout passed
// before every server had drained, and the work still in flight was cut.
var ErrDrainCut = errors.New("in-flight work cut")

// Run serves every server until ctx is cancelled or one of them fails, then
// drains them all at once: opts.Draining first, then every server stops
// taking new work and drains what it has in flight, side by side, so that
// no server's slow calls keep another serving. The drain is bounded by
// opts.ShutdownTimeout, after which what is still in flight is cut.
//
// It returns the first serving error; otherwise nil when every server
// drained within the timeout, or an error wrapping ErrDrainCut that names
// the timeout and the servers whose work was cut.
func Run(ctx context.Context, opts Options, servers ...Server) error {
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if err := s.Serve(); err != nil {
				errc <- fmt.Errorf("%s server: %w", s.Name(), err)
				return
			}
			errc <- nil
		}()
	}

	addrs := make(map[string]string, len(servers))
	for _, s := range servers {
		addrs[s.Name()] = s.Addr()
	}
	var runErr error
	if opts.ReadyFile != "" {
		doc := readyfile.Document{Service: opts.Service, PID: os.Getpid(), Addresses: addrs}
		runErr = readyfile.Write(opts.ReadyFile, doc)
	}
	if runErr == nil {
		opts.Logger.Info("serving", "addresses", addrs)
		select {
		case <-ctx.Done():
			opts.Logger.Info("shutting down", "reason", context.Cause(ctx))
		case runErr = <-errc:
			if runErr == nil {
				runErr = errors.New("a server stopped unexpectedly")
			}
		}
	}

	drainErr := drain(opts, servers)
	if runErr != nil {
		return runErr
	}
	return drainErr
}

// drain shuts every server down at once and waits for them all.
func drain(opts Options, servers []Server) error {
	if opts.Draining != nil {
		opts.Draining()
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() { errs[i] = s.Shutdown(ctx) })
	}
	wg.Wait()

	var cut []string
	var failed []error
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.DeadlineExceeded):
			cut = append(cut, servers[i].Name())
		default:
			failed = append(failed, fmt.Errorf("shutdown %s: %w", servers[i].Name(), err))
		}
	}
	if len(cut) > 0 {
		timeout := opts.ShutdownTimeout.String()
		if opts.ShutdownSetting != "" {
			timeout = opts.ShutdownSetting + "=" + timeout
		}
		failed = append([]error{fmt.Errorf("%w: %s had not drained when the shutdown timeout (%s) passed",
			ErrDrainCut, strings.Join(cut, " and "), timeout)}, failed...)
	}
	return errors.Join(failed...)
}

// healthRefresh is how often a serving Health re-runs its check, so that
// Watch streams see a change even when nobody calls Check.
const healthRefresh = time.Second

// Health is the grpc.health.v1 service of one gRPC server. Its status, for
// the whole server ("") and for each registered service alike, is the
// answer of a check function: SERVING while it returns nil, NOT_SERVING
// while it fails. Every Check runs the function (bounded by it) before
// answering; Watch streams see each change, the status being refreshed
// every second while the server serves. On shutdown it reports
// NOT_SERVING for good before the server drains.
type Health struct {
	hs       *health.Server
	check    func(context.Context) error
	services []string

	mu      sync.Mutex
	started uint64 // checks started
	applied uint64 // the latest check whose answer is the status

	stop     chan struct{}
	stopOnce sync.Once
}

// RegisterHealth registers grpc.health.v1 on srv for the whole server ("")
// and each of services. With a nil check the status is always SERVING
// until shutdown; otherwise it is NOT_SERVING until check first passes.
// check must return once its context ends; give it its own short bound
// (see package readiness) so that Check answers in time.
func RegisterHealth(srv *grpc.Server, check func(context.Context) error, services ...string) *Health {
	h := &Health{
		hs:       health.NewServer(),
		check:    check,
		services: append([]string{""}, services...),
		stop:     make(chan struct{}),
	}
	initial := healthpb.HealthCheckResponse_SERVING
	if check != nil {
		initial = healthpb.HealthCheckResponse_NOT_SERVING
	}
	for _, name := range h.services {
		h.hs.SetServingStatus(name, initial)
	}
	healthpb.RegisterHealthServer(srv, checkedHealth{Server: h.hs, h: h})
	return h
}

// Refresh runs the check and makes its answer the status. It returns
// ctx.Err() when ctx ended before the check answered: that says nothing
// about the dependencies, and the status is left as it was.
func (h *Health) Refresh(ctx context.Context) error {
	if h.check == nil {
		return nil
	}
	h.mu.Lock()
	h.started++
	seq := h.started
	h.mu.Unlock()

	err := h.check(ctx)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	st := healthpb.HealthCheckResponse_SERVING
	if err != nil {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if seq > h.applied { // an older check finishing late does not win
		h.applied = seq
		for _, name := range h.services {
			h.hs.SetServingStatus(name, st) // ignored once shut down
		}
	}
	return nil
}

// watch refreshes the status at once and then every healthRefresh until
// the server shuts down.
func (h *Health) watch() {
	if h.check == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-h.stop
		cancel()
	}()
	ticker := time.NewTicker(healthRefresh)
	defer ticker.Stop()
	for {
		h.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// shutdown reports NOT_SERVING for good and stops the refreshing.
func (h *Health) shutdown() {
	h.stopOnce.Do(func() { close(h.stop) })
	h.hs.Shutdown()
}

// checkedHealth is grpc-go's health service with a Check that refreshes
// the status first.
type checkedHealth struct {
	*health.Server
	h *Health
}

func (c checkedHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if err := c.h.Refresh(ctx); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return c.Server.Check(ctx, req)
}

// Serve returns srv on ln as a Server that keeps the health status fresh
// while it serves and whose shutdown first reports NOT_SERVING to health
// checkers, then drains.
func (h *Health) Serve(name string, ln net.Listener, srv *grpc.Server) Server {
	return &drainingGRPC{Server: GRPC(name, ln, srv), health: h}
}

type drainingGRPC struct {
	Server
	health *Health
}

func (d *drainingGRPC) Serve() error {
	go d.health.watch()
	return d.Server.Serve()
}

func (d *drainingGRPC) Shutdown(ctx context.Context) error {
	d.health.shutdown()
	return d.Server.Shutdown(ctx)
}

// Exit reports how a binary's run ended (service.Main), the same way for
// every galaxy binary, and returns the process's exit code: 0 after a clean stop
// (logged "stopped"); 2 for a bad configuration (an *envconfig.Error),
// printed to stderr as one line per problem,
// "<service>: configuration: <problem>"; 1 for any other error (logged
// "stopped" with the error).
func Exit(err error, service string, stderr io.Writer, logger *slog.Logger) int {
	var cfgErr *envconfig.Error
	switch {
	case err == nil:
		logger.Info("stopped")
		return 0
	case errors.As(err, &cfgErr):
		for _, p := range cfgErr.Problems {
			fmt.Fprintf(stderr, "%s: configuration: %v\n", service, p)
		}
		return 2
	default:
		logger.Error("stopped", "error", err)
		return 1
	}
}
