package logging

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/grpclog"
)

// RouteGRPC sends gRPC's own log lines (a process-wide setting of the
// library) to logger, tagged component=grpc, instead of plain text on
// stderr, so every line on stderr stays JSON. gRPC's chatty info lines go
// to debug level; only its verbosity level 0 is logged.
//
// The first call installs the route: make it before any gRPC client or
// server is created. Later calls, concurrent ones included, only switch the
// route to their logger, so a binary whose log level is configured late (or
// tests that run it more than once) may call it again.
func RouteGRPC(logger *slog.Logger) {
	grpcTarget.Store(logger.With("component", "grpc"))
	grpcRoute.Do(func() { grpclog.SetLoggerV2(grpcLogger{}) })
}

var (
	grpcRoute  sync.Once
	grpcTarget atomic.Pointer[slog.Logger]
)

// grpcLogger is a grpclog.LoggerV2 writing to the logger RouteGRPC was
// last given. Its Fatal methods log at error level and exit, as the
// interface requires.
type grpcLogger struct{}

var _ grpclog.LoggerV2 = grpcLogger{}

func (grpcLogger) l() *slog.Logger { return grpcTarget.Load() }

// sprintln formats args as fmt.Println does, without the newline: gRPC's
// component loggers pass a "[component]" prefix as a separate argument.
func sprintln(args ...any) string { return strings.TrimSuffix(fmt.Sprintln(args...), "\n") }

func (g grpcLogger) Info(args ...any)                    { g.l().Debug(fmt.Sprint(args...)) }
func (g grpcLogger) Infoln(args ...any)                  { g.l().Debug(sprintln(args...)) }
func (g grpcLogger) Infof(format string, args ...any)    { g.l().Debug(fmt.Sprintf(format, args...)) }
func (g grpcLogger) Warning(args ...any)                 { g.l().Warn(fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any)               { g.l().Warn(sprintln(args...)) }
func (g grpcLogger) Warningf(format string, args ...any) { g.l().Warn(fmt.Sprintf(format, args...)) }
func (g grpcLogger) Error(args ...any)                   { g.l().Error(fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any)                 { g.l().Error(sprintln(args...)) }
func (g grpcLogger) Errorf(format string, args ...any)   { g.l().Error(fmt.Sprintf(format, args...)) }
func (g grpcLogger) Fatal(args ...any)                   { g.fatal(fmt.Sprint(args...)) }
func (g grpcLogger) Fatalln(args ...any)                 { g.fatal(sprintln(args...)) }
func (g grpcLogger) Fatalf(format string, args ...any)   { g.fatal(fmt.Sprintf(format, args...)) }

func (g grpcLogger) fatal(msg string) {
	g.l().Error(msg)
	os.Exit(1)
}

// V reports whether verbosity level l is logged: only level 0.
func (grpcLogger) V(l int) bool { return l <= 0 }
