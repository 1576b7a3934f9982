package httpserver

import (
	"log/slog"
	"net/http"
	"time"
)

// Server limits. The write deadline leaves room for the slowest request:
// whatever its handler waits on, bounded by the upstream budget, and the
// slack to write the answer. The header limit is MaxHeaderBytes, to which
// net/http adds 4 KiB of read-ahead: a request line and header block of up to
// 20 KiB are read, a longer one is answered 431 (contracts/errors.md, "Answers
// from the HTTP layer").
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
//
// Every request the server can parse reaches handler, "OPTIONS *" included
// (net/http would otherwise answer it 200 itself). What the server answers
// while it reads a request, before any handler runs (a malformed request
// line or header, a header block over the limit, an unsupported
// Transfer-Encoding or Expect, an HTTP version other than 1.x), is the
// plain text contracts/errors.md lists.
func NewServer(handler http.Handler, logger *slog.Logger, upstreamBudget time.Duration) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      upstreamBudget + writeSlack,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.With("component", "http").Handler(), slog.LevelWarn),

		DisableGeneralOptionsHandler: true,
	}
}
