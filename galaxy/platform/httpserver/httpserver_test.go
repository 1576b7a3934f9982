package httpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"galaxy/platform/apierror"
	"galaxy/platform/httpserver"
	"galaxy/platform/logging"
	"galaxy/platform/logging/logtest"
	"galaxy/platform/tracecontext/tracecontexttest"
)

// body is a request with one string and one boolean field.
type body struct {
	Email string `json:"email"`
	Flag  bool   `json:"flag"`
}

// lines decodes every line of logs.
func lines(t *testing.T, logs *logtest.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// serve returns a server of a handler with a decoding route, a panicking
// route and a plain one, and its log.
func serve(t *testing.T) (*httptest.Server, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	logger, err := logging.New(logs, "test", "info")
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpserver.Handler(logger, httpserver.Routes{
		"POST /decode": func(w http.ResponseWriter, r *http.Request) {
			var b body
			if err := httpserver.DecodeJSON(w, r, &b); err != nil {
				httpserver.Fail(logger, w, r, err)
				return
			}
			httpserver.WriteJSON(w, http.StatusCreated, b)
		},
		"GET /panic": func(http.ResponseWriter, *http.Request) { panic("handler bug") },
		"GET /down": func(w http.ResponseWriter, r *http.Request) {
			httpserver.Fail(logger, w, r, apierror.Dependency("redis", io.ErrUnexpectedEOF))
		},
	})
	if err != nil {
		t.Fatalf("Handler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, logs
}

func post(t *testing.T, srv *httptest.Server, contentType, payload string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/decode", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// wantProblem fails unless the answer is a problem document with code
// whose detail holds detail.
func wantProblem(t *testing.T, resp *http.Response, b []byte, code apierror.Code, detail string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json (body %s)", ct, b)
	}
	var p apierror.Problem
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("problem %s: %v", b, err)
	}
	if p.Code != code || resp.StatusCode != apierror.HTTPStatus(code) {
		t.Fatalf("answer = %d %s, want %d %s (body %s)", resp.StatusCode, p.Code, apierror.HTTPStatus(code), code, b)
	}
	if !strings.Contains(p.Detail, detail) {
		t.Errorf("detail = %q, want it to hold %q", p.Detail, detail)
	}
}

func TestDecodeJSONRefusesWhatIsNotExactlyTheDocumentedObject(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t)
	tests := []struct {
		name, contentType, payload string
		code                       apierror.Code
		detail                     string
	}{
		{"no content type", "", `{"email": "a"}`, apierror.UnsupportedMediaType, "application/json"},
		{"other content type", "text/plain", `{"email": "a"}`, apierror.UnsupportedMediaType, "application/json"},
		{"other charset", "application/json; charset=latin1", `{"email": "a"}`, apierror.UnsupportedMediaType, "UTF-8"},
		{"empty", "application/json", ``, apierror.InvalidArgument, "empty"},
		{"not JSON", "application/json", `{email}`, apierror.InvalidArgument, "not valid JSON"},
		{"an array", "application/json", `[{"email": "a"}]`, apierror.InvalidArgument, "JSON object"},
		{"unknown field", "application/json", `{"email": "a", "name": "b"}`, apierror.InvalidArgument, `unknown field "name"`},
		{"case variant", "application/json", `{"Email": "a"}`, apierror.InvalidArgument, `unknown field "Email"`},
		{"duplicate", "application/json", `{"email": "a", "email": "b"}`, apierror.InvalidArgument, `"email" appears more than once`},
		{"escaped duplicate", "application/json", `{"email": "a", "\u0065mail": "b"}`, apierror.InvalidArgument, `"email" appears more than once`},
		{"null string", "application/json", `{"email": null}`, apierror.InvalidArgument, `"email" must be a string`},
		{"number for a string", "application/json", `{"email": 1}`, apierror.InvalidArgument, `"email" must be a string`},
		{"string for a boolean", "application/json", `{"flag": "true"}`, apierror.InvalidArgument, `"flag" must be a boolean`},
		{"invalid UTF-8 in a value", "application/json", "{\"email\": \"a\xff\"}", apierror.InvalidArgument, `"email" is not valid UTF-8`},
		{"unpaired surrogate", "application/json", `{"email": "a\ud800"}`, apierror.InvalidArgument, `"email" is not valid UTF-8`},
		{"invalid UTF-8 after the object", "application/json", "{\"email\": \"a\"}\xff", apierror.InvalidArgument, "not valid UTF-8"},
		{"a second value", "application/json", `{"email": "a"} {}`, apierror.InvalidArgument, "single JSON object"},
		{"too large", "application/json", `{"email": "` + strings.Repeat("a", httpserver.MaxBodyBytes) + `"}`, apierror.PayloadTooLarge, "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, b := post(t, srv, tc.contentType, tc.payload)
			wantProblem(t, resp, b, tc.code, tc.detail)
		})
	}
}

func TestDecodeJSONAcceptsTheDocumentedObject(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t)
	tests := []struct {
		name, payload string
		want          body
	}{
		{"both fields", `{"email": "josé@example.com", "flag": true}`, body{Email: "josé@example.com", Flag: true}},
		{"one field", `{"flag": false}`, body{}},
		{"escapes and whitespace", " \n{\"\\u0065mail\" : \"a\\u0040b\"}\t", body{Email: "a@b"}},
		{"charset named", `{"email": "a"}`, body{Email: "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, b := post(t, srv, "application/json; charset=utf-8", tc.payload)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status = %d (%s), want 201", resp.StatusCode, b)
			}
			var got body
			if err := json.Unmarshal(b, &got); err != nil || got != tc.want {
				t.Errorf("decoded %s (%v), want %+v", b, err, tc.want)
			}
		})
	}
}

func TestUnknownRoutesAndMethodsAreProblems(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/nowhere", nil)
	resp, b := do(t, req)
	wantProblem(t, resp, b, apierror.NotFound, "no such route")

	req, _ = http.NewRequest(http.MethodDelete, srv.URL+"/decode", nil)
	resp, b = do(t, req)
	wantProblem(t, resp, b, apierror.MethodNotAllowed, "DELETE")
	if allow := resp.Header.Get("Allow"); allow != "POST" {
		t.Errorf("Allow = %q, want POST", allow)
	}
}

func TestBodiesFramedByTransferEncodingAreRefused(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", io.MultiReader(strings.NewReader(`{"email": "a"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.TransferEncoding = []string{"chunked"}
	resp, b := do(t, req)
	wantProblem(t, resp, b, apierror.InvalidArgument, "Content-Length")
	if !resp.Close {
		t.Error("the connection was kept open after a body framed by Transfer-Encoding")
	}
}

func TestEveryAnswerCarriesTheSecurityHeaders(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t)
	ok, _ := post(t, srv, "application/json", `{"email": "a"}`)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/nowhere", nil)
	missing, _ := do(t, req)
	for _, resp := range []*http.Response{ok, missing} {
		for header, want := range map[string]string{
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
		} {
			if got := resp.Header.Get(header); got != want {
				t.Errorf("%d answer: %s = %q, want %q", resp.StatusCode, header, got, want)
			}
		}
	}
}

// TestServerFailuresAreLoggedNotShown: a panic and a failed dependency
// answer their problem without the cause, which goes to an error line.
func TestServerFailuresAreLoggedNotShown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, cause string
		code              apierror.Code
		line              map[string]any
	}{
		{"panic", "/panic", "handler bug", apierror.Internal,
			map[string]any{"msg": "panic serving request", "level": "ERROR", "panic": "handler bug"}},
		{"dependency", "/down", io.ErrUnexpectedEOF.Error(), apierror.DependencyUnavailable,
			map[string]any{"msg": "request failed", "level": "WARN", "code": "DEPENDENCY_UNAVAILABLE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, logs := serve(t)
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			resp, b := do(t, req)
			wantProblem(t, resp, b, tc.code, "")
			if strings.Contains(string(b), tc.cause) {
				t.Errorf("the answer %s shows the cause %q", b, tc.cause)
			}
			for _, line := range lines(t, logs) {
				if line["msg"] == tc.line["msg"] && strings.Contains(fmt.Sprint(line), tc.cause) {
					for k, v := range tc.line {
						if line[k] != v {
							t.Errorf("line %v: %s = %v, want %v", line, k, line[k], v)
						}
					}
					return
				}
			}
			t.Errorf("no %q line with the cause %q in %v", tc.line["msg"], tc.cause, lines(t, logs))
		})
	}
}

// TestOneAccessLinePerRequestInTheCallersTrace: each request logs one
// "http request" line with its method, path (no query), status, size and
// duration, tagged with the caller's trace id when its traceparent is well
// formed and with a trace of its own otherwise.
func TestOneAccessLinePerRequestInTheCallersTrace(t *testing.T) {
	t.Parallel()
	srv, logs := serve(t)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode?secret=1", strings.NewReader(`{"email": "a"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", tracecontexttest.Valid)
	do(t, req)
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/nowhere", nil)
	req.Header.Set("Traceparent", "00-not-a-trace-01")
	do(t, req)

	var access []map[string]any
	for _, line := range lines(t, logs) {
		if line["msg"] == "http request" {
			access = append(access, line)
		}
	}
	if len(access) != 2 {
		t.Fatalf("access lines = %v, want one per request", access)
	}
	first, second := access[0], access[1]
	if first["method"] != "POST" || first["path"] != "/decode" || first["status"] != float64(http.StatusCreated) ||
		first["bytes"].(float64) <= 0 || first["duration_ms"] == nil {
		t.Errorf("access line = %v, want POST /decode 201 with its size and duration, no query", first)
	}
	if first["trace_id"] != tracecontexttest.TraceID || first["span_id"] == tracecontexttest.SpanID {
		t.Errorf("access line trace = %v / %v, want the caller's trace %s and a span of its own", first["trace_id"], first["span_id"], tracecontexttest.TraceID)
	}
	if second["status"] != float64(http.StatusNotFound) || second["trace_id"] == nil || second["trace_id"] == tracecontexttest.TraceID {
		t.Errorf("access line = %v, want a 404 in a new trace", second)
	}
}

func TestHandlerChecksItsInputs(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	ok := func(http.ResponseWriter, *http.Request) {}
	tests := []struct {
		name   string
		logger *slog.Logger
		routes httpserver.Routes
	}{
		{"nil logger", nil, httpserver.Routes{"GET /": ok}},
		{"no routes", logger, nil},
		{"nil handler", logger, httpserver.Routes{"GET /": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := httpserver.Handler(tc.logger, tc.routes); err == nil {
				t.Error("Handler accepted it")
			}
		})
	}
}

func TestNewServerSetsEveryLimit(t *testing.T) {
	t.Parallel()
	srv := httpserver.NewServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler), 3*time.Second)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 || srv.ErrorLog == nil {
		t.Errorf("server = %+v, want every timeout, the header limit and an error log set", srv)
	}
	if srv.WriteTimeout <= 3*time.Second {
		t.Errorf("WriteTimeout = %v, want more than the upstream budget of 3s", srv.WriteTimeout)
	}
}

func TestProbes(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	logger := slog.New(slog.DiscardHandler)
	h, err := httpserver.Handler(logger, httpserver.Probes(logger, func(context.Context) error {
		if failing.Load() {
			return apierror.Dependencies([]string{"redis", "authsession"}, io.EOF)
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		return do(t, req)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, b := get(path); resp.StatusCode != http.StatusOK || string(b) != `{"status":"ok"}` {
			t.Errorf("GET %s = %d %s, want 200 ok", path, resp.StatusCode, b)
		}
	}
	failing.Store(true)
	resp, b := get("/readyz")
	wantProblem(t, resp, b, apierror.DependencyUnavailable, "redis")
	if resp, _ := get("/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %d while not ready, want 200 (liveness only)", resp.StatusCode)
	}
}
