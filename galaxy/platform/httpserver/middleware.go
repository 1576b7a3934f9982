package httpserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"galaxy/platform/apierror"
	"galaxy/platform/tracecontext"
)

// maxLoggedPath bounds the path written to the access log.
const maxLoggedPath = 256

// middleware wraps next, outermost first: the request's trace (the
// client's traceparent continued, or a new trace: platform/tracecontext),
// the access log, panic recovery, the security headers every response
// carries and the framing check.
func middleware(logger *slog.Logger, next http.Handler) http.Handler {
	return tracecontext.HTTP(accessLog(logger, recoverPanics(logger, secureHeaders(lengthFramed(next)))))
}

// lengthFramed refuses a request whose body is framed by Transfer-Encoding,
// with 400 INVALID_ARGUMENT, and closes the connection after the answer.
//
// A request with both Content-Length and Transfer-Encoding is how requests
// are smuggled past a proxy that reads the other header (RFC 9112 §6.1,
// §11.2), and the server must close the connection after answering it. By
// the time a handler runs, net/http has already dropped the Content-Length
// of a chunked request, so such a request looks like any chunked one: every
// request with a Transfer-Encoding is refused. No body of this API is
// larger than MaxBodyBytes, so a client always knows its length and sends
// Content-Length; an HTTP/1.0 request's Transfer-Encoding is ignored by
// net/http and its Content-Length is used.
func lengthFramed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		apierror.WriteHTTP(w, apierror.New(apierror.InvalidArgument,
			"request bodies must be sent with Content-Length, not Transfer-Encoding"))
	})
}

// secureHeaders sets the headers every answer of a JSON API should carry:
// nothing is cached, sniffed, framed or allowed to load.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		hdr.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panicking handler into a 500 INTERNAL problem (when
// nothing was sent yet) and an error log line with the stack.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // the sentinel is compared as net/http does
				panic(v)
			}
			logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("method", r.Method), slog.String("path", LogPath(r)),
				slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			if rec, ok := w.(*recorder); ok && rec.status != 0 {
				panic(http.ErrAbortHandler) // the answer has begun: cut the connection
			}
			apierror.WriteHTTP(w, apierror.New(apierror.Internal, "internal error"))
		}()
		next.ServeHTTP(w, r)
	})
}

// accessLog writes one line per request: method, path (never the query, a
// body or a header), status, size and duration, and the request's trace.
func accessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			logger.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method),
				slog.String("path", LogPath(r)),
				slog.String("peer", r.RemoteAddr),
				slog.Int("status", status),
				slog.Int64("bytes", rec.bytes),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			)
		}()
		next.ServeHTTP(rec, r)
	})
}

// LogPath is the request path for logs (never the query), bounded in length.
func LogPath(r *http.Request) string {
	p := r.URL.Path
	if len(p) > maxLoggedPath {
		p = p[:maxLoggedPath] + "..."
	}
	return p
}

// recorder remembers the status and size of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
