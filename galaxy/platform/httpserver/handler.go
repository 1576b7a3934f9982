// Package httpserver is the HTTP JSON plumbing of the galaxy services,
// written once: routes behind one middleware (the request's W3C trace, one
// access line per request, panic recovery, security headers, requests
// framed by Content-Length only), problem documents for unknown routes and
// methods, strict request bodies (DecodeJSON), JSON answers, errors as
// application/problem+json from the one error table (platform/apierror),
// and an http.Server with every timeout and size limit set.
package httpserver

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"galaxy/platform/apierror"
)

// Routes maps net/http ServeMux patterns ("POST /v1/users/resolve",
// "GET /v1/users/{id}") to their handlers.
type Routes map[string]http.HandlerFunc

// Handler serves routes behind the middleware: the request's trace (the
// client's traceparent continued, or a new trace: platform/tracecontext),
// one access line per request, panic recovery as 500 INTERNAL, the
// security headers every answer carries and the refusal of bodies framed
// by Transfer-Encoding. A path no pattern matches answers 404 NOT_FOUND
// and a method the path does not serve 405 METHOD_NOT_ALLOWED with Allow,
// both as problem documents. Lines go to logger.
func Handler(logger *slog.Logger, routes Routes) (http.Handler, error) {
	if logger == nil {
		return nil, errors.New("httpserver: nil logger")
	}
	if len(routes) == 0 {
		return nil, errors.New("httpserver: no routes")
	}
	mux := http.NewServeMux()
	for pattern, fn := range routes {
		if fn == nil {
			return nil, errors.New("httpserver: route " + pattern + " has no handler")
		}
		mux.HandleFunc(pattern, fn)
	}
	return middleware(logger, route(logger, mux)), nil
}

// route serves r through mux, turning the mux's own plain-text 404 and 405
// answers into problem documents.
func route(logger *slog.Logger, mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fallback, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &headerProbe{header: http.Header{}}
		fallback.ServeHTTP(probe, r)
		switch probe.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.header.Get("Allow"))
			Fail(logger, w, r, apierror.New(apierror.MethodNotAllowed, "method %s is not allowed here", r.Method))
		case http.StatusNotFound:
			Fail(logger, w, r, apierror.New(apierror.NotFound, "no such route"))
		default: // a redirect to the canonical path
			mux.ServeHTTP(w, r)
		}
	})
}

// headerProbe records what a fallback handler answers and drops its body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }
func (p *headerProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *headerProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// Fail writes err as a problem document (apierror.WriteHTTP). A failure
// that is not the caller's fault (a 5xx) is logged with its cause, which
// never reaches the caller.
func Fail(logger *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	e := apierror.As(err)
	if status := apierror.HTTPStatus(e.Code); status >= http.StatusInternalServerError {
		logger.LogAttrs(r.Context(), slog.LevelWarn, "request failed",
			slog.String("method", r.Method), slog.String("path", LogPath(r)),
			slog.String("code", string(e.Code)), slog.String("error", err.Error()))
	}
	apierror.WriteHTTP(w, err)
}

// WriteJSON answers status with v encoded as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // the answer types of the services always encode
		apierror.WriteHTTP(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
