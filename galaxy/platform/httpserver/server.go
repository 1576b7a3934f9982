package httpserver

import (
	"log/slog"
	"net/http"
	"time"
)

// Server limits. The write deadline leaves room for the slowest request:
// whatever its handler waits on, bounded by the upstream budget, and the
// slack to write the answer.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = 60 * time.Second
	writeSlack        = 10 * time.Second
	maxHeaderBytes    = 16 << 10
)

// NewServer returns an http.Server for handler with every timeout and size
// limit set. upstreamBudget is the longest a handler may wait on
// dependencies; server-level errors go to logger.
func NewServer(handler http.Handler, logger *slog.Logger, upstreamBudget time.Duration) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      upstreamBudget + writeSlack,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.With("component", "http").Handler(), slog.LevelWarn),
	}
}
