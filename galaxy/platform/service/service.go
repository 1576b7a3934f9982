// Package service is the wiring every galaxy binary shares, written once,
// so that a binary's main is one call and its run is its configuration,
// its own objects and the calls of this package:
//
//	func main() { service.Main("orders", run) }
//
//	func run(ctx context.Context, lookup envconfig.Lookuper) error {
//		cfg, err := config.Load(lookup) // cfg.Settings read by ReadSettings
//		if err != nil {
//			return err
//		}
//		svc, err := service.New("orders", cfg.Settings)
//		if err != nil {
//			return err
//		}
//		store, err := redisstore.New(cfg.RedisURL) // its own objects
//		...
//		if err := svc.Depend(readiness.Dependency{Name: "redis", Check: store.Ping}); err != nil {
//			return err
//		}
//		api, err := httpapi.New(store, svc.Logger(), svc.Ready) // its /readyz answers svc.Ready
//		...
//		return svc.Run(ctx,
//			service.HTTP("http", cfg.HTTPAddr, api, cfg.RedisTimeout),
//			service.GRPC("grpc", cfg.GRPCAddr, grpcServer))
//	}
//
// New makes the JSON logger at the configured level and routes the Redis
// and gRPC libraries' own log lines into it. Depend names the binary's hard
// dependencies, which Ready checks within the ready timeout. Run opens
// every listener first, serves each HTTP handler in a server with the
// limits of platform/httpserver, gives every gRPC server grpc.health.v1
// (for "" and each of its services, answering Ready), writes the ready file
// and, once ctx ends, drains every server at once within the shutdown
// timeout (platform/lifecycle); Ready fails from the drain's first moment.
// Work a binary does beside its servers (Background) runs from the open
// listeners to the drain's end.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"galaxy/platform/apierror"
	"galaxy/platform/envconfig"
	"galaxy/platform/httpserver"
	"galaxy/platform/lifecycle"
	"galaxy/platform/logging"
	"galaxy/platform/readiness"
	"galaxy/platform/redisconn"
)

// Main is the whole of a binary's main, the same for every binary.
// SIGINT or SIGTERM end the context run is given (the drain begins), a
// JSON logger of the binary at level info is in that context for what
// comes before run makes the configured one, run reads the process's
// environment, and how run ended becomes the last line and the exit code
// (lifecycle.Exit): main returns after a drain that completed (so that a
// -cover build writes its counters), and exits with code 2 for a
// configuration error and 1 for any other.
func Main(name string, run func(context.Context, envconfig.Lookuper) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	logger, _ := logging.New(os.Stderr, name, "info") // a constant level always parses
	ctx = logging.WithLogger(ctx, logger)

	err := run(ctx, envconfig.OS())
	stop()
	if code := lifecycle.Exit(err, name, os.Stderr, logger); code != 0 {
		os.Exit(code)
	}
}

// Settings are the process settings every binary has, each read from the
// variable of the binary's prefix and the setting's name
// (galaxy/README.md, "Process conventions").
type Settings struct {
	Prefix          string        // of the variables: "GATEWAY" reads GATEWAY_LOG_LEVEL, ...
	LogLevel        string        // <PREFIX>_LOG_LEVEL: debug, info (default), warn or error
	ReadyFile       string        // <PREFIX>_READY_FILE: the ready file's path; none by default
	ReadyTimeout    time.Duration // <PREFIX>_READY_TIMEOUT: the bound of a readiness check
	ShutdownTimeout time.Duration // <PREFIX>_SHUTDOWN_TIMEOUT: the bound of the drain, 10s by default
}

// DefaultShutdownTimeout bounds the drain unless <PREFIX>_SHUTDOWN_TIMEOUT
// says otherwise.
const DefaultShutdownTimeout = 10 * time.Second

// ReadSettings reads the Settings of the binary whose variables start with
// prefix through r, which keeps every problem; readyTimeout is the
// binary's default readiness bound.
func ReadSettings(r *envconfig.Reader, prefix string, readyTimeout time.Duration) Settings {
	return Settings{
		Prefix:          prefix,
		ReadyFile:       r.String(prefix+"_READY_FILE", ""),
		ReadyTimeout:    r.Duration(prefix+"_READY_TIMEOUT", readyTimeout),
		ShutdownTimeout: r.Duration(prefix+"_SHUTDOWN_TIMEOUT", DefaultShutdownTimeout),
		LogLevel:        r.LogLevel(prefix+"_LOG_LEVEL", "info"),
	}
}

// Service is one binary's shared wiring: its logger, its readiness and the
// run of its servers.
type Service struct {
	name     string
	settings Settings
	logger   *slog.Logger
	ready    *readiness.Checker      // nil: no hard dependency
	work     []func(context.Context) // run beside the servers (Background)
	draining atomic.Bool
}

// Option customises New.
type Option func(*options)

type options struct{ logs io.Writer }

// WithLogOutput sends the logs to w instead of stderr (tests).
func WithLogOutput(w io.Writer) Option { return func(o *options) { o.logs = w } }

// New returns the wiring of the binary called name: a JSON logger at
// s.LogLevel, tagged with name, to which the Redis and gRPC libraries' own
// log lines go as well (platform/redisconn, platform/logging). Call it
// before any gRPC client or server is made. A log level it cannot read is
// a configuration error (*envconfig.Error) naming its variable.
func New(name string, s Settings, opts ...Option) (*Service, error) {
	switch {
	case name == "":
		return nil, errors.New("service: a name is required")
	case s.ReadyTimeout <= 0:
		return nil, errors.New("service: the ready timeout must be positive")
	case s.ShutdownTimeout <= 0:
		return nil, errors.New("service: the shutdown timeout must be positive")
	}
	o := options{logs: os.Stderr}
	for _, opt := range opts {
		opt(&o)
	}
	logger, err := logging.New(o.logs, name, s.LogLevel)
	if err != nil {
		return nil, envconfig.Problem(s.Prefix+"_LOG_LEVEL", s.LogLevel, err)
	}
	redisconn.RouteLogs(logger)
	logging.RouteGRPC(logger)
	return &Service{name: name, settings: s, logger: logger}, nil
}

// Logger is the binary's logger.
func (s *Service) Logger() *slog.Logger { return s.logger }

// Depend makes deps the binary's hard dependencies: Ready fails while any
// of them does. It is called once, before Run.
func (s *Service) Depend(deps ...readiness.Dependency) error {
	if s.ready != nil {
		return errors.New("service: the dependencies were already given")
	}
	ready, err := readiness.New(s.settings.ReadyTimeout, deps...)
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	s.ready = ready
	return nil
}

// startCheckBound bounds the check of a dependency CheckAtStart asks for.
const startCheckBound = 2 * time.Second

// CheckAtStart has Run check dep once as it starts serving, beside the
// start-up and without holding it back, and log a warning
// "<dependency> is not reachable yet" when it fails within its bound (2 s).
// A check still running when Run is about to return is cancelled and ends
// silently; Run waits for it, so dep.Check must return once its context
// ends. Call it before Run.
func (s *Service) CheckAtStart(dep readiness.Dependency) {
	s.Background(func(ctx context.Context) { s.checkAtStart(ctx, dep) })
}

// Background has Run run work beside the servers, in a goroutine of its
// own: from the moment every listener is open (not at all when one cannot
// open) until every server has drained, so that what a call answered
// during the drain set going is still carried out. work's context ends
// then, and Run returns once work has. Call it before Run.
func (s *Service) Background(work func(context.Context)) {
	s.work = append(s.work, work)
}

// errShuttingDown is the cause of the readiness failure of a draining binary.
var errShuttingDown = errors.New("shutting down")

// Ready reports whether the binary can serve: nil while every hard
// dependency (Depend) answers within the ready timeout, otherwise
// DEPENDENCY_UNAVAILABLE naming the failed ones (platform/readiness). From
// the first moment of the drain it fails for good with
// DEPENDENCY_UNAVAILABLE naming the binary itself ("gateway is shutting
// down"), a check that began before the drain included. It returns ctx's
// error when the caller gives up first. gRPC health answers it; so should
// any HTTP readiness probe of the binary.
func (s *Service) Ready(ctx context.Context) error {
	if s.draining.Load() {
		return s.shuttingDown()
	}
	var err error
	if s.ready != nil {
		err = s.ready.Check(ctx)
	}
	if s.draining.Load() {
		return s.shuttingDown()
	}
	return err
}

func (s *Service) shuttingDown() error {
	e := apierror.Dependencies([]string{s.name}, errShuttingDown)
	e.Message = s.name + " is shutting down"
	return e
}

// Server is one server of a binary: its name (its key in the ready file),
// the address it listens on (host:port, port 0 for a free one, or fd://N,
// an inherited socket: envconfig.ListenAddr) and what serves there.
type Server struct {
	name  string
	addr  string
	serve func(s *Service, ln net.Listener) lifecycle.Server
}

// HTTP is handler serving on addr, in an http.Server with every timeout
// and size limit of platform/httpserver (httpserver.NewServer), whose own
// lines go to the binary's logger; upstreamBudget is the longest a handler
// may wait on the binary's dependencies. The handler is typically
// httpserver.Handler over the binary's routes, its GET /readyz
// (httpserver.Probes) answering Ready.
func HTTP(name, addr string, handler http.Handler, upstreamBudget time.Duration) Server {
	return Server{name: name, addr: addr, serve: func(s *Service, ln net.Listener) lifecycle.Server {
		return lifecycle.HTTP(name, ln, httpserver.NewServer(handler, s.logger, upstreamBudget))
	}}
}

// GRPC is srv serving on addr, with grpc.health.v1 registered on it by Run
// for the whole server ("") and for each service registered on srv by
// then: SERVING while Ready passes, NOT_SERVING while it fails and, for
// good, from the first moment of the drain.
func GRPC(name, addr string, srv *grpc.Server) Server {
	return Server{name: name, addr: addr, serve: func(s *Service, ln net.Listener) lifecycle.Server {
		services := make([]string, 0, len(srv.GetServiceInfo()))
		for service := range srv.GetServiceInfo() {
			services = append(services, service)
		}
		slices.Sort(services)
		return lifecycle.RegisterHealth(srv, s.Ready, services...).Serve(name, ln, srv)
	}}
}

// Run opens every server's listener (all or none: "address in use" fails at
// once), starts the Background work, serves every server, writes the ready
// file once they serve and, once ctx ends, drains them all at once within
// the shutdown timeout (lifecycle.Run): Ready fails from the drain's first
// moment. The Background work is stopped, and waited for, after the drain.
// It returns
// nil after a drain that completed, an error wrapping lifecycle.ErrDrainCut
// and naming <PREFIX>_SHUTDOWN_TIMEOUT when in-flight work had to be cut,
// or the error that stopped a server.
func (s *Service) Run(ctx context.Context, servers ...Server) error {
	if len(servers) == 0 {
		return errors.New("service: no server to run")
	}
	lns := make([]net.Listener, 0, len(servers))
	for _, srv := range servers {
		ln, err := lifecycle.Listen(srv.name, srv.addr)
		if err != nil {
			for _, open := range lns {
				open.Close()
			}
			return err
		}
		lns = append(lns, ln)
	}
	running := make([]lifecycle.Server, len(servers))
	for i, srv := range servers {
		running[i] = srv.serve(s, lns[i])
	}

	ctx = logging.WithLogger(ctx, s.logger)
	background, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var work sync.WaitGroup
	defer func() {
		stopWork()
		work.Wait()
	}()
	for _, w := range s.work {
		work.Go(func() { w(background) })
	}
	return lifecycle.Run(ctx, lifecycle.Options{
		Service:         s.name,
		ReadyFile:       s.settings.ReadyFile,
		ShutdownTimeout: s.settings.ShutdownTimeout,
		ShutdownSetting: s.settings.Prefix + "_SHUTDOWN_TIMEOUT",
		Logger:          s.logger,
		Draining:        func() { s.draining.Store(true) },
	}, running...)
}

// checkAtStart checks dep within startCheckBound and warns when it fails,
// unless ctx ended first (Run returned).
func (s *Service) checkAtStart(ctx context.Context, dep readiness.Dependency) {
	checkCtx, cancel := context.WithTimeout(ctx, startCheckBound)
	defer cancel()
	if err := dep.Check(checkCtx); err != nil && ctx.Err() == nil {
		s.logger.Warn(dep.Name+" is not reachable yet", "error", err)
	}
}
