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
	"net/url"
	"strconv"
	"strings"

	"galaxy/platform/apierror"
)

// Routes maps net/http ServeMux patterns ("POST /v1/users/resolve",
// "GET /v1/users/{id}") to their handlers.
type Routes map[string]http.HandlerFunc

// Handler serves routes behind the middleware: the request's trace (the
// client's traceparent continued, or a new trace: platform/tracecontext),
// one access line per request, panic recovery as 500 INTERNAL, the
// security headers every answer carries and the refusal of bodies framed
// by Transfer-Encoding. A path no pattern matches, or one not spelled the
// way a route's is (an empty or dot segment, an encoded slash or a
// backslash, the asterisk or authority form), answers 404 NOT_FOUND and a
// method the path does not serve 405 METHOD_NOT_ALLOWED with Allow, both as
// problem documents; nothing is redirected. Lines go to logger.
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
		if strings.HasSuffix(pattern, "/") {
			return nil, errors.New("httpserver: route " + pattern + " ends in /, which the mux would redirect to")
		}
		mux.HandleFunc(pattern, fn)
	}
	return middleware(logger, route(logger, mux)), nil
}

// route serves r through mux, so that every answer is the service's own: a
// path not spelled the way a route's is (canonicalPath) is 404 NOT_FOUND,
// never redirected to the path the mux would clean it into, and the mux's
// plain-text 404 and 405 answers become problem documents.
//
// A canonical path is already clean and no route's pattern ends in "/"
// (Handler refuses one), so the mux has no redirect left to send: whatever
// else it would answer without a route is NOT_FOUND as well.
func route(logger *slog.Logger, mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !canonicalPath(r.URL.EscapedPath()) {
			Fail(logger, w, r, errNoRoute)
			return
		}
		fallback, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &headerProbe{header: http.Header{}}
		fallback.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			Fail(logger, w, r, apierror.New(apierror.MethodNotAllowed, "method %s is not allowed here", r.Method))
			return
		}
		Fail(logger, w, r, errNoRoute)
	})
}

var errNoRoute = apierror.New(apierror.NotFound, "no such route")

// canonicalPath reports whether escaped, a request's path as sent, is
// spelled the one way a route's path is: "/" and segments, none of them
// empty ("//", a trailing "/"), a dot segment ("." or "..", its dots
// percent-encoded or not) or holding a slash or a backslash (percent-encoded
// or not). Such a path is one that a layer between the client and the
// service may read as another, so the service neither normalises nor
// redirects it. The asterisk form ("OPTIONS *", the "PRI *" of HTTP/2
// without TLS) and the authority form of CONNECT have no "/" to start with.
func canonicalPath(escaped string) bool {
	rest, ok := strings.CutPrefix(escaped, "/")
	if !ok {
		return false
	}
	for seg := range strings.SplitSeq(rest, "/") {
		s, err := url.PathUnescape(seg)
		if err != nil || s == "" || s == "." || s == ".." || strings.ContainsAny(s, `/\`) {
			return false
		}
	}
	return true
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
