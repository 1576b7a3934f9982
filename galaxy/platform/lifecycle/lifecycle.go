// Package lifecycle runs a binary's servers the same way everywhere: listen
// first (so "address in use" fails at once and port 0 works), serve, publish
// the ready file, and on cancellation shut every server down within a bound.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

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

// Listen opens a TCP listener on addr (port 0 picks a free port).
func Listen(name, addr string) (net.Listener, error) {
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
func (s *httpServer) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

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

// Shutdown stops gracefully, and forcibly once ctx ends.
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
	Logger          *slog.Logger
}

// Run serves every server until ctx is cancelled or one of them fails, then
// shuts them all down within opts.ShutdownTimeout. It returns the first
// serving error, or nil after a clean shutdown.
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

	shutdownCtx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown %s: %w", s.Name(), err))
		}
	}
	if runErr != nil {
		return runErr
	}
	return errors.Join(errs...)
}

// Health is the grpc.health.v1 service of one gRPC server.
type Health struct {
	hs *health.Server
}

// RegisterHealth registers grpc.health.v1 on srv, reporting SERVING for the
// whole server ("") and for each of services.
func RegisterHealth(srv *grpc.Server, services ...string) *Health {
	hs := health.NewServer()
	for _, name := range append([]string{""}, services...) {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(srv, hs)
	return &Health{hs: hs}
}

// Serve returns srv on ln as a Server whose shutdown first reports
// NOT_SERVING to health checkers, then drains.
func (h *Health) Serve(name string, ln net.Listener, srv *grpc.Server) Server {
	return &drainingGRPC{Server: GRPC(name, ln, srv), health: h.hs}
}

type drainingGRPC struct {
	Server
	health *health.Server
}

func (d *drainingGRPC) Shutdown(ctx context.Context) error {
	d.health.Shutdown()
	return d.Server.Shutdown(ctx)
}
